//! JWT bearer tokens, HS256: the signature, `alg` (only HS256; `none` and everything else are
//! refused, so a token cannot pick its own verification), `exp` (required), `nbf`, `iss` and
//! `aud` are checked, and the tenant comes from a configurable claim. RS256 is not built yet.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use spectra_state_machine::TenantId;

/// How tokens are checked.
#[derive(Clone)]
pub struct JwtConfig {
    /// The HS256 shared secret.
    pub secret: Vec<u8>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (or one of an `aud` array), when set.
    pub audience: Option<String>,
    /// The claim that names the tenant.
    pub tenant_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: i64,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

impl JwtConfig {
    /// HS256 with `secret`, tenant in `tenant_id`, 60 s of leeway, no `iss`/`aud` required.
    pub fn hs256(secret: Vec<u8>) -> Self {
        Self { secret, issuer: None, audience: None, tenant_claim: "tenant_id".into(), leeway_seconds: 60 }
    }
}

/// Whether a bearer token looks like a JWT (three base64url parts) rather than an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with("sk_")
}

fn part(text: &str, what: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| format!("the token's {what} is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| format!("the token's {what} is not JSON"))
}

/// Verifies `token` at `now` (seconds since the epoch); the tenant and subject on success.
pub fn verify(token: &str, config: &JwtConfig, now: i64) -> Result<(TenantId, String), String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("not a JWT".into());
    };
    let header = part(h, "header")?;
    if header["alg"] != "HS256" {
        return Err(format!("alg {} is not accepted (HS256 only)", header["alg"]));
    }
    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "the signature is not base64url".to_owned())?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&config.secret).map_err(|e| e.to_string())?;
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&signature).map_err(|_| "bad signature".to_owned())?;
    let claims = part(p, "payload")?;
    let exp = claims["exp"].as_i64().ok_or("the token has no exp")?;
    if now > exp + config.leeway_seconds {
        return Err("the token has expired".into());
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| now + config.leeway_seconds < nbf) {
        return Err("the token is not valid yet".into());
    }
    if let Some(issuer) = &config.issuer
        && claims["iss"].as_str() != Some(issuer.as_str())
    {
        return Err("wrong issuer".into());
    }
    if let Some(audience) = &config.audience {
        let ok = match &claims["aud"] {
            Value::String(a) => a == audience,
            Value::Array(all) => all.iter().any(|a| a.as_str() == Some(audience.as_str())),
            _ => false,
        };
        if !ok {
            return Err("wrong audience".into());
        }
    }
    let tenant = claims[config.tenant_claim.as_str()]
        .as_str()
        .ok_or_else(|| format!("the token has no {} claim", config.tenant_claim))?;
    let tenant = TenantId::parse(tenant).map_err(|e| format!("the tenant claim is invalid: {e}"))?;
    Ok((tenant, claims["sub"].as_str().unwrap_or("jwt").to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sign(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: Some("idp".into()),
            audience: Some("spectra".into()),
            ..JwtConfig::hs256(b"s3cret".to_vec())
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn claims() -> Value {
        json!({"sub": "u1", "tenant_id": "acme", "iss": "idp", "aud": ["x", "spectra"], "exp": NOW + 300, "nbf": NOW - 5})
    }

    #[test]
    fn a_good_token_names_its_tenant() {
        let token = sign(&json!({"alg": "HS256", "typ": "JWT"}), &claims(), b"s3cret");
        assert!(looks_like_jwt(&token));
        assert_eq!(verify(&token, &config(), NOW).unwrap(), (TenantId::parse("acme").unwrap(), "u1".into()));
    }

    #[test]
    fn bad_tokens_are_refused() {
        let hs = json!({"alg": "HS256"});
        let with = |key: &str, value: Value| {
            let mut c = claims();
            c[key] = value;
            c
        };
        let cases = [
            ("wrong secret", sign(&hs, &claims(), b"other")),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                    URL_SAFE_NO_PAD.encode(claims().to_string())
                ),
            ),
            ("alg HS512", sign(&json!({"alg": "HS512"}), &claims(), b"s3cret")),
            ("expired", sign(&hs, &with("exp", json!(NOW - 61)), b"s3cret")),
            ("no exp", sign(&hs, &with("exp", Value::Null), b"s3cret")),
            ("not yet", sign(&hs, &with("nbf", json!(NOW + 61)), b"s3cret")),
            ("issuer", sign(&hs, &with("iss", json!("evil")), b"s3cret")),
            ("audience", sign(&hs, &with("aud", json!("other")), b"s3cret")),
            ("no tenant", sign(&hs, &with("tenant_id", Value::Null), b"s3cret")),
            ("bad tenant", sign(&hs, &with("tenant_id", json!("a/b")), b"s3cret")),
        ];
        for (why, token) in cases {
            assert!(verify(&token, &config(), NOW).is_err(), "{why} was accepted");
        }
        assert!(verify("a.b", &config(), NOW).is_err());
    }
}
