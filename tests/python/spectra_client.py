"""Seed 001's Python client (its `SpectraClient`, as published), run against a live `spectra up`.

Usage: spectra_client.py BASE_URL API_KEY TENANT_ID
Prints one JSON object with what the client got back; exits non-zero when a documented shape
is missing. The end-to-end test runs it with the test command's virtualenv.
"""
import json
import sys
import time
from typing import Optional

import requests


class SpectraClient:
    """Redshift Spectra API client."""

    def __init__(self, base_url: str, api_key: str, tenant_id: str):
        self.base_url = base_url.rstrip('/')
        self.session = requests.Session()
        self.session.headers.update({
            'Authorization': f'Bearer {api_key}',
            'X-Tenant-ID': tenant_id,
            'Content-Type': 'application/json'
        })

    def query(self, sql: str, limit: int = 10000,
              timeout_seconds: int = 60) -> dict:
        """Execute a synchronous query."""
        response = self.session.post(
            f'{self.base_url}/queries',
            json={
                'sql': sql,
                'parameters': {
                    'limit': limit,
                    'timeout_seconds': timeout_seconds
                }
            }
        )
        response.raise_for_status()
        return response.json()

    def create_bulk_job(self, operation: str, object_name: str,
                        query: Optional[str] = None) -> dict:
        """Create an asynchronous bulk job."""
        payload = {
            'operation': operation,
            'object': object_name
        }
        if query:
            payload['query'] = query
        response = self.session.post(
            f'{self.base_url}/bulk/jobs',
            json=payload
        )
        response.raise_for_status()
        return response.json()

    def get_bulk_job(self, job_id: str) -> dict:
        """Get bulk job status."""
        response = self.session.get(
            f'{self.base_url}/bulk/jobs/{job_id}'
        )
        response.raise_for_status()
        return response.json()


def main() -> int:
    base_url, api_key, tenant_id = sys.argv[1:4]
    # The seed's usage, against base_url='.../v1'.
    client = SpectraClient(base_url=base_url, api_key=api_key, tenant_id=tenant_id)
    result = client.query('SELECT COUNT(*) AS n FROM sales')
    for key in ('columns', 'column_types', 'row_count', 'total_rows', 'truncated', 'execution_time_ms', 'query_id'):
        assert key in result['metadata'], f'metadata.{key} missing: {result}'
    job = client.create_bulk_job(operation='query', object_name='sales',
                                 query='SELECT * FROM sales WHERE year = 2024')
    for key in ('job_id', 'state', 'operation', 'object', 'created_at'):
        assert key in job, f'{key} missing from the created job: {job}'
    deadline = time.time() + 60
    status = client.get_bulk_job(job['job_id'])
    while status['state'] not in ('JobComplete', 'Failed', 'Aborted') and time.time() < deadline:
        time.sleep(0.2)
        status = client.get_bulk_job(job['job_id'])
    for key in ('job_id', 'state', 'operation', 'object', 'number_records_processed',
                'number_records_failed', 'created_at', 'updated_at'):
        assert key in status, f'{key} missing from the job: {status}'
    print(json.dumps({'count': result['data'][0], 'job': status}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
