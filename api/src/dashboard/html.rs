//! The dashboard's pages: plain server-rendered HTML with a little CSS and no script at all
//! (filters are a GET form, actions are POST forms). Every value from the job table is
//! escaped: a tenant's object names and error texts are not trusted.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use spectra_state_machine::{AnyState, Job, Phase};

use super::list::{Filters, Tiles, object, seconds};

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.tiles{display:flex;gap:1rem;margin:1rem 0}.tile{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;min-width:9rem}\
.tile b{display:block;font-size:1.4rem}form.filters input,form.filters select{margin-right:.5rem}\
.state-Failed,.state-FAILED{color:#b00020}.state-JobComplete,.state-COMPLETED{color:#116611}.error{color:#b00020;white-space:pre-wrap}\
dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1rem}dt{font-weight:600}";

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · Spectra</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>{body}</body></html>",
        esc(title),
        esc(title)
    )
}

/// A page saying only `text`.
pub(crate) fn message(status: &str, text: &str) -> String {
    page(status, &format!("<p>{}</p><p><a href=\"/dashboard\">Jobs</a></p>", esc(text)))
}

/// The sign-in form.
pub(crate) fn login_page(problem: Option<&str>) -> String {
    let problem = problem.map(|p| format!("<p class=\"error\">{}</p>", esc(p))).unwrap_or_default();
    page(
        "Operator sign-in",
        &format!(
            "{problem}<form method=\"post\" action=\"/dashboard/login\"><label>Operator token \
             <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required></label> \
             <button type=\"submit\" id=\"sign-in\">Sign in</button></form>"
        ),
    )
}

/// Where a job's page is.
pub(crate) fn job_href(job: &Job) -> String {
    format!("/dashboard/jobs/{}/{}", job.tenant_id(), job.job_id())
}

fn phase_named(name: &str) -> Option<Phase> {
    AnyState::named(name).map(AnyState::phase)
}

/// Seconds the job waited to run and ran (the latter up to now while it runs), from its
/// timeline.
fn times(job: &Job) -> (Option<f64>, Option<f64>) {
    let history = &job.header().history;
    let started = history.iter().position(|c| phase_named(&c.state) == Some(Phase::Running));
    let Some(started) = started else { return (None, None) };
    let queued_at = history[..started]
        .iter()
        .rev()
        .find(|c| phase_named(&c.state) == Some(Phase::Ready))
        .map_or(job.created_at(), |c| c.at);
    let start = history[started].at;
    let end = history[started..].iter().find(|c| phase_named(&c.state).is_some_and(Phase::is_terminal)).map(|c| c.at);
    (Some(seconds(queued_at, start)), Some(seconds(start, end.unwrap_or_else(Utc::now))))
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |s| format!("{s:.2} s"))
}

fn rows(job: &Job) -> (String, String) {
    match job {
        Job::Bulk(b) => (b.number_records_processed.to_string(), b.number_records_failed.to_string()),
        Job::Query(_) => ("—".into(), "—".into()),
    }
}

fn filter_form(f: &Filters) -> String {
    let input = |name: &str, value: &str, hint: &str| {
        format!("<input name=\"{name}\" id=\"f-{name}\" value=\"{}\" placeholder=\"{hint}\">", esc(value))
    };
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/dashboard\">{}{}{}{}<label>last \
         <input name=\"hours\" id=\"f-hours\" type=\"number\" min=\"1\" value=\"{}\"> hours</label> \
         <button type=\"submit\" id=\"apply\">Filter</button></form>",
        input("tenant", &f.tenant, "tenant"),
        input("state", &f.state, "state (e.g. Failed)"),
        input("operation", &f.operation, "operation"),
        input("object", &f.object, "object"),
        f.hours()
    )
}

fn tiles_html(t: &Tiles) -> String {
    let limit = t.limit.map(|l| format!(" / {l}")).unwrap_or_default();
    let tile = |id: &str, label: &str, value: String| {
        format!("<div class=\"tile\" id=\"tile-{id}\"><b>{}</b>{}</div>", esc(&value), esc(label))
    };
    format!(
        "<div class=\"tiles\">{}{}{}{}{}{}{}</div>",
        tile("rate", "jobs per minute (15 min)", format!("{:.1}", t.per_minute)),
        tile("running", "running / statement limit", format!("{}{limit}", t.running)),
        tile("waiting", "waiting for a statement slot", t.waiting.to_string()),
        tile("dead-letters", "dead letters", t.dead_letters.map_or_else(|| "?".to_owned(), |n| n.to_string())),
        tile("failed", "failed (last hour)", t.failed.to_string()),
        tile("p50", "p50 end to end (last hour)", secs(t.p50)),
        tile("p95", "p95 end to end (last hour)", secs(t.p95)),
    )
}

/// The job list with its filters and tiles.
pub(crate) fn list_page(f: &Filters, jobs: &[Job], tiles: &Tiles) -> String {
    let mut table = String::from(
        "<table id=\"jobs\"><thead><tr><th>Job</th><th>Tenant</th><th>Operation</th><th>Object</th><th>State</th>\
         <th>Attempts</th><th>Rows processed</th><th>Rows failed</th><th>Queue wait</th><th>Run time</th>\
         <th>Last error</th></tr></thead><tbody>",
    );
    for job in jobs {
        let (processed, failed) = rows(job);
        let (wait, run) = times(job);
        let state = job.state().as_str();
        let error = job.header().error.as_ref().map(|e| e.message.as_str()).unwrap_or("");
        let _ = write!(
            table,
            "<tr data-job=\"{id}\"><td><a href=\"{href}\">{id}</a></td><td>{tenant}</td><td>{op}</td><td>{object}</td>\
             <td class=\"state-{state}\">{state}</td><td>{attempt}</td><td>{processed}</td><td>{failed}</td>\
             <td>{wait}</td><td>{run}</td><td class=\"error\">{error}</td></tr>",
            id = esc(job.job_id().as_str()),
            href = esc(&job_href(job)),
            tenant = esc(job.tenant_id().as_str()),
            op = esc(job.operation().map_or("sql", |o| o.as_str())),
            object = esc(&object(job).unwrap_or_default()),
            attempt = job.header().execution.attempt,
            wait = secs(wait),
            run = secs(run),
            error = esc(error),
        );
    }
    table.push_str("</tbody></table>");
    let count = format!("<p id=\"count\">{} jobs (at most 100, most recently changed first)</p>", jobs.len());
    page("Jobs", &format!("{}{}{count}{table}", tiles_html(tiles), filter_form(f)))
}

fn timeline(job: &Job) -> String {
    let mut items = format!("<li>created {}</li>", at(job.created_at()));
    for change in &job.header().history {
        let _ = write!(items, "<li><b>{}</b> {}</li>", esc(&change.state), at(change.at));
    }
    format!("<ol id=\"timeline\">{items}</ol>")
}

fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

fn actions(job: &Job) -> String {
    let href = esc(&job_href(job));
    let mut forms = String::new();
    if !job.phase().is_terminal() {
        let _ =
            write!(forms, "<form method=\"post\" action=\"{href}/abort\"><button id=\"abort\">Abort</button></form>");
    }
    if matches!(job, Job::Bulk(_)) && matches!(job.phase(), Phase::Failed | Phase::Aborted) {
        let _ = write!(
            forms,
            "<form method=\"post\" action=\"{href}/rerun\"><button id=\"rerun\">Re-run as a new job</button></form>"
        );
    }
    forms
}

/// One job: its fields, its timeline, its error and what can be done with it.
pub(crate) fn job_page(job: &Job) -> String {
    let (processed, failed) = rows(job);
    let (wait, run) = times(job);
    let state = job.state().as_str();
    let results = format!("/v1/bulk/jobs/{}/results", job.job_id());
    let mut fields = String::new();
    for (name, value) in [
        ("Tenant", job.tenant_id().to_string()),
        ("Operation", job.operation().map_or("sql", |o| o.as_str()).to_owned()),
        ("Object", object(job).unwrap_or_default()),
        ("Attempt", job.header().execution.attempt.to_string()),
        ("Statement", job.header().execution.statement_id.clone().unwrap_or_else(|| "—".into())),
        ("Rows processed / failed", format!("{processed} / {failed}")),
        ("Queue wait / run time", format!("{} / {}", secs(wait), secs(run))),
        ("Results (tenant API)", results),
    ] {
        let _ = write!(fields, "<dt>{name}</dt><dd>{}</dd>", esc(&value));
    }
    let error = job.header().error.as_ref().map_or_else(String::new, |e| {
        format!(
            "<h2>Error</h2><p class=\"error\" id=\"error\">{}: {}</p>",
            esc(&format!("{:?}", e.code)),
            esc(&e.message)
        )
    });
    let body = format!(
        "<p><a href=\"/dashboard\">← Jobs</a></p><p>State: <b id=\"state\" class=\"state-{state}\">{state}</b></p>\
         <dl>{fields}</dl>{error}<h2>Timeline</h2>{}{}",
        timeline(job),
        actions(job)
    );
    page(&format!("Job {}", job.job_id()), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_job_table_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
