//! JWT bearer tokens, HS256 (a shared secret) and RS256 (an identity provider's public key): the
//! signature, `alg` (only an algorithm a key is configured for; `none` and everything else are
//! refused, so a token cannot pick its own verification — in particular an RS256 public key is
//! never used as an HS256 secret), `exp` (required), `nbf`, `iss` and `aud` are checked, and
//! the tenant comes from a configurable claim.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use spectra_state_machine::TenantId;
use spectra_worker::secret::Secret;

/// How tokens are checked.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// The HS256 shared secret; HS256 tokens are refused without one.
    pub secret: Option<Secret<Vec<u8>>>,
    /// The RS256 public key (DER SubjectPublicKeyInfo); RS256 tokens are refused without one.
    pub rsa_public_key: Option<Vec<u8>>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (or one of an `aud` array), when set.
    pub audience: Option<String>,
    /// The claim that names the tenant.
    pub tenant_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: i64,
}

impl JwtConfig {
    /// HS256 with `secret`, tenant in `tenant_id`, 60 s of leeway, no `iss`/`aud` required.
    pub fn hs256(secret: Vec<u8>) -> Self {
        Self {
            secret: Some(Secret::new(secret)),
            rsa_public_key: None,
            issuer: None,
            audience: None,
            tenant_claim: "tenant_id".into(),
            leeway_seconds: 60,
        }
    }

    /// RS256 with the public key in a PEM file's text (`-----BEGIN PUBLIC KEY-----`, what
    /// `openssl rsa -pubout` writes), otherwise as [`JwtConfig::hs256`].
    pub fn rs256_pem(pem: &str) -> Result<Self, String> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
        if !pem.contains("-----BEGIN PUBLIC KEY-----") || body.is_empty() {
            return Err("not a PEM public key (-----BEGIN PUBLIC KEY-----)".into());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "the PEM body is not base64".to_owned())?;
        // Parse once now, so a bad key fails at start rather than on every request.
        aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der).map_err(|_| "not an RSA public key".to_owned())?;
        Ok(Self { secret: None, rsa_public_key: Some(der), ..Self::hs256(Vec::new()) })
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
    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "the signature is not base64url".to_owned())?;
    let signed = format!("{h}.{p}");
    match (header["alg"].as_str(), &config.secret, &config.rsa_public_key) {
        (Some("HS256"), Some(secret), _) => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose()).map_err(|e| e.to_string())?;
            mac.update(signed.as_bytes());
            mac.verify_slice(&signature).map_err(|_| "bad signature".to_owned())?;
        }
        (Some("RS256"), _, Some(key)) => {
            use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
                .verify(signed.as_bytes(), &signature)
                .map_err(|_| "bad signature".to_owned())?;
        }
        (alg, _, _) => return Err(format!("alg {alg:?} is not accepted here")),
    }
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

    /// An RS256 token signed by a fresh key: accepted with its public key; refused when the
    /// public key is offered as an HS256 secret (the classic algorithm confusion), when signed by
    /// another key, or when the verifier has no RSA key.
    #[test]
    fn rs256_tokens_are_checked_with_the_public_key() {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::rsa::KeySize;
        use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
        let sign_rs = |pair: &RsaKeyPair, claims: &Value| {
            let h = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                format!("{h}.{p}").as_bytes(),
                &mut sig,
            )
            .unwrap();
            format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
        };
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).unwrap();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der.as_ref())
        );
        let rs = JwtConfig {
            issuer: Some("idp".into()),
            audience: Some("spectra".into()),
            ..JwtConfig::rs256_pem(&pem).unwrap()
        };
        let token = sign_rs(&pair, &claims());
        assert_eq!(verify(&token, &rs, NOW).unwrap().0, TenantId::parse("acme").unwrap());
        let other = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        assert!(verify(&sign_rs(&other, &claims()), &rs, NOW).is_err(), "another key's signature");
        let confused = sign(&json!({"alg": "HS256"}), &claims(), der.as_ref());
        assert!(verify(&confused, &rs, NOW).is_err(), "the public key used as an HS256 secret");
        assert!(verify(&token, &config(), NOW).is_err(), "RS256 without an RSA key configured");
        assert!(JwtConfig::rs256_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
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
