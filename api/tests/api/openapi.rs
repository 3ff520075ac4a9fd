//! The OpenAPI document matches the running router: every route it lists is served, every
//! served route is in it, and it is what `GET /v1/openapi.json` returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use crate::common::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(spectra_api::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    routes
}

#[test]
fn the_document_lists_exactly_the_routes() {
    let served: BTreeSet<(String, String)> =
        spectra_api::ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented(), served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_is_served_and_the_document_is_too() {
    let s = Stack::start().await;
    let key = s.key("acme").await;
    for (method, path) in spectra_api::ROUTES {
        let path = path.replace("{id}", "bulk-00000000-0000-0000-0000-000000000000");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = s.call(&key, "acme", method.clone(), &path, None).await;
        // A served route answers something other than the router's own fallbacks.
        let fallback = body["error"]["message"] == "no such route" || status == StatusCode::METHOD_NOT_ALLOWED;
        assert!(!fallback, "{method} {path} is not served: {status} {body}");
    }
    let served = s.http.get(format!("{}/v1/openapi.json", s.base)).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "application/json");
    assert_eq!(served.text().await.unwrap(), spectra_api::OPENAPI);
    // And a route that is not listed is not served.
    let (status, _) = s.call(&key, "acme", Method::PUT, "/v1/bulk/jobs", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
