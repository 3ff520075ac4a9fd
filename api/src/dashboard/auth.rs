//! Operator authentication: one operator token per deployment, given to the process (a secret)
//! and kept only as its SHA-256. A browser signs in once with a form; the token then rides in
//! an HttpOnly, SameSite=Strict cookie scoped to `/dashboard`, so another site can neither read
//! it nor make the browser send it (the abort and re-run forms are same-site POSTs). Scripts
//! may send `Authorization: Bearer <token>` instead. A tenant's API key is never accepted.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use spectra_worker::ports::hash_key;

use super::{PageError, html};
use crate::state::AppState;

/// The cookie that carries the token.
const COOKIE_NAME: &str = "spectra_operator";

/// The operator token, as its hash.
#[derive(Debug, Clone)]
pub struct OperatorToken {
    hash: String,
}

impl OperatorToken {
    /// Keeps `token`'s hash (the token itself is dropped).
    pub fn new(token: &str) -> Self {
        Self { hash: hash_key(token) }
    }

    fn accepts(&self, token: &str) -> bool {
        crate::auth::same(hash_key(token).as_bytes(), self.hash.as_bytes())
    }
}

/// An authenticated operator (a handler argument).
pub(crate) struct Operator;

/// Where an unauthenticated request goes: a page to the sign-in form, a script gets 401.
pub(crate) enum Unauthenticated {
    SignIn,
    Refused,
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/dashboard/login").into_response(),
            Self::Refused => (StatusCode::UNAUTHORIZED, Html(html::message("401", "The operator token is not valid.")))
                .into_response(),
        }
    }
}

/// The token a request presents: its bearer header, else its cookie.
fn presented(headers: &HeaderMap) -> Option<(&str, bool)> {
    if let Some(bearer) =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((bearer.trim(), true));
    }
    let cookies = headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok());
    cookies
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(&format!("{COOKIE_NAME}=")).map(|t| (t, false)))
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Unauthenticated> {
        let Some(expected) = &state.operator else { return Err(Unauthenticated::Refused) };
        match presented(&parts.headers) {
            Some((token, _)) if expected.accepts(token) => Ok(Operator),
            Some((_, true)) => Err(Unauthenticated::Refused),
            _ => Err(Unauthenticated::SignIn),
        }
    }
}

/// `GET /dashboard/login`.
pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    if state.operator.is_none() {
        return disabled().into_response();
    }
    Html(html::login_page(None)).into_response()
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(crate) struct SignIn {
    token: String,
}

/// `POST /dashboard/login`: a valid token sets the cookie and goes to the list.
pub(crate) async fn login(State(state): State<AppState>, Form(form): Form<SignIn>) -> Response {
    let Some(expected) = &state.operator else { return disabled().into_response() };
    let token = form.token.trim();
    if !expected.accepts(token) {
        tracing::warn!("a dashboard sign-in with a wrong token");
        return (StatusCode::UNAUTHORIZED, Html(html::login_page(Some("That is not the operator token."))))
            .into_response();
    }
    let cookie = format!("{COOKIE_NAME}={token}; Path=/dashboard; HttpOnly; SameSite=Strict");
    ([(SET_COOKIE, cookie)], Redirect::to("/dashboard")).into_response()
}

fn disabled() -> PageError {
    PageError(
        StatusCode::NOT_FOUND,
        "The dashboard is off: no operator token is configured (SPECTRA_OPERATOR_TOKEN).".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_operator_token_is_accepted() {
        let token = OperatorToken::new("s3cret-operator");
        assert!(token.accepts("s3cret-operator"));
        assert!(!token.accepts("s3cret-operatoR") && !token.accepts("") && !token.accepts("s3cret"));
        assert!(!format!("{token:?}").contains("s3cret"), "the token itself is not kept");
    }

    #[test]
    fn the_bearer_header_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=b; spectra_operator=from-cookie".parse().unwrap());
        assert_eq!(presented(&headers), Some(("from-cookie", false)));
        headers.insert(AUTHORIZATION, "Bearer from-header".parse().unwrap());
        assert_eq!(presented(&headers), Some(("from-header", true)));
    }
}
