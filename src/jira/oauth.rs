//! OAuth 1.0a request signing (RFC 5849) with `oauth_signature_method=RSA-SHA1`:
//! PKCS#1 v1.5 over SHA-1, parameters sent in the `Authorization: OAuth ...`
//! header.
//!
//! The signature uses blinding (`sign_with_rng`) because of RUSTSEC-2023-0071
//! (see docs/SECURITY.md). PKCS#1 v1.5 signatures are deterministic, so the
//! result is the same as without blinding.

use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use sha1::Sha1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OAuthError {
    #[error("invalid private key: {0}")]
    BadKey(String),
    #[error("invalid URL: {0}")]
    BadUrl(String),
}

/// RFC 5849 section 3.6: every byte but ALPHA, DIGIT, `-`, `.`, `_`, `~`
/// becomes `%XX` (upper-case hex) of its UTF-8 encoding.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 5849 section 3.4.1.2: lowercase scheme and host, default port
/// dropped, no query or fragment.
pub fn normalize_url(url: &url::Url) -> Result<String, OAuthError> {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url
        .host_str()
        .ok_or_else(|| OAuthError::BadUrl(format!("`{url}` has no host")))?
        .to_ascii_lowercase();
    // `Url::port` is already None for the scheme's default port.
    let port = match url.port() {
        Some(p) if !((scheme == "http" && p == 80) || (scheme == "https" && p == 443)) => {
            format!(":{p}")
        }
        _ => String::new(),
    };
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// RFC 5849 section 3.4.1: `METHOD&enc(url)&enc(normalized parameters)`,
/// parameters encoded then sorted by name, then value.
pub fn base_string(
    method: &str,
    url: &url::Url,
    params: &[(String, String)],
) -> Result<String, OAuthError> {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    enc.sort();
    let joined = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(&normalize_url(url)?),
        percent_encode(&joined)
    ))
}

/// Parse a PEM RSA private key: PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8
/// (`BEGIN PRIVATE KEY`). The error never quotes the key.
pub fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, OAuthError> {
    let pem = pem.trim();
    if pem.is_empty() {
        return Err(OAuthError::BadKey("the PEM is empty".into()));
    }
    let key = if pem.contains("BEGIN RSA PRIVATE KEY") {
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| {
            OAuthError::BadKey(format!("not a valid PKCS#1 RSA private key PEM ({e})"))
        })?
    } else if pem.contains("BEGIN PRIVATE KEY") {
        RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
            OAuthError::BadKey(format!(
                "not a valid PKCS#8 RSA private key PEM ({e}); only unencrypted RSA keys are accepted"
            ))
        })?
    } else if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err(OAuthError::BadKey(
            "encrypted private keys are not supported: decrypt it first (openssl pkey -in key.pem -out plain.pem)".into(),
        ));
    } else {
        return Err(OAuthError::BadKey(
            "expected a PEM with `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1) or `-----BEGIN PRIVATE KEY-----` (PKCS#8)".into(),
        ));
    };
    key.validate()
        .map_err(|e| OAuthError::BadKey(format!("the RSA key is inconsistent ({e})")))?;
    Ok(key)
}

/// RSA-SHA1 signature of a base string, base64 (standard alphabet, padded).
pub fn sign(key: &RsaPrivateKey, base_string: &str) -> String {
    let signer = SigningKey::<Sha1>::new(key.clone());
    let sig = signer.sign_with_rng(&mut rand::thread_rng(), base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
}

/// What a request is signed with.
pub struct Credentials<'a> {
    pub consumer_key: &'a str,
    pub key: &'a RsaPrivateKey,
    /// Request token or access token, when there is one.
    pub token: Option<&'a str>,
}

/// A random nonce: 16 random bytes, hex.
pub fn nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Build the `Authorization` header value for a request.
///
/// `extra_oauth` are further `oauth_*` protocol parameters (`oauth_callback`,
/// `oauth_verifier`); `form` the body parameters of an
/// `application/x-www-form-urlencoded` request (empty otherwise). Query
/// parameters are read from `url`.
pub fn authorization_header(
    creds: &Credentials<'_>,
    method: &str,
    url: &url::Url,
    extra_oauth: &[(&str, &str)],
    form: &[(String, String)],
) -> Result<String, OAuthError> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    authorization_header_at(creds, method, url, extra_oauth, form, &nonce(), &timestamp)
}

/// [`authorization_header`] with a given nonce and timestamp.
pub fn authorization_header_at(
    creds: &Credentials<'_>,
    method: &str,
    url: &url::Url,
    extra_oauth: &[(&str, &str)],
    form: &[(String, String)],
    nonce: &str,
    timestamp: &str,
) -> Result<String, OAuthError> {
    let mut oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), creds.consumer_key.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "RSA-SHA1".into()),
        ("oauth_timestamp".into(), timestamp.into()),
        ("oauth_version".into(), "1.0".into()),
    ];
    if let Some(t) = creds.token {
        oauth.push(("oauth_token".into(), t.into()));
    }
    for (k, v) in extra_oauth {
        oauth.push(((*k).into(), (*v).into()));
    }
    let mut all = oauth.clone();
    all.extend(
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    all.extend(form.iter().cloned());
    let base = base_string(method, url, &all)?;
    oauth.push(("oauth_signature".into(), sign(creds.key, &base)));
    oauth.sort();
    let fields = oauth
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!("OAuth {fields}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The private key of the RSA-SHA1 test case on wiki.oauth.net
    /// (TestCases, section 9.3), PKCS#8.
    const VECTOR_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBALRiMLAh9iimur8V
A7qVvdqxevEuUkW4K+2KdMXmnQbG9Aa7k7eBjK1S+0LYmVjPKlJGNXHDGuy5Fw/d
7rjVJ0BLB+ubPK8iA/Tw3hLQgXMRRGRXXCn8ikfuQfjUS1uZSatdLB81mydBETlJ
hI6GH4twrbDJCR2Bwy/XWXgqgGRzAgMBAAECgYBYWVtleUzavkbrPjy0T5FMou8H
X9u2AC2ry8vD/l7cqedtwMPp9k7TubgNFo+NGvKsl2ynyprOZR1xjQ7WgrgVB+mm
uScOM/5HVceFuGRDhYTCObE+y1kxRloNYXnx3ei1zbeYLPCHdhxRYW7T0qcynNmw
rn05/KO2RLjgQNalsQJBANeA3Q4Nugqy4QBUCEC09SqylT2K9FrrItqL2QKc9v0Z
zO2uwllCbg0dwpVuYPYXYvikNHHg+aCWF+VXsb9rpPsCQQDWR9TT4ORdzoj+Nccn
qkMsDmzt0EfNaAOwHOmVJ2RVBspPcxt5iN4HI7HNeG6U5YsFBb+/GZbgfBT3kpNG
WPTpAkBI+gFhjfJvRw38n3g/+UeAkwMI2TJQS4n8+hid0uus3/zOjDySH3XHCUno
cn1xOJAyZODBo47E+67R4jV1/gzbAkEAklJaspRPXP877NssM5nAZMU0/O/NGCZ+
3jPgDUno6WbJn5cqm8MqWhW1xGkImgRk+fkDBquiq4gPiT898jusgQJAd5Zrr6Q8
AO/0isr/3aa6O6NLQxISLKcPDk2NOccAfS/xOtfOz4sJYM3+Bs4Io9+dZGSDCA54
Lw03eHTNQghS0A==
-----END PRIVATE KEY-----";

    const VECTOR_BASE: &str = "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacaction.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3D13917289812797014437%26oauth_signature_method%3DRSA-SHA1%26oauth_timestamp%3D1196666512%26oauth_version%3D1.0%26size%3Doriginal";

    const VECTOR_SIG: &str = "jvTp/wX1TYtByB1m+Pbyo0lnCOLIsyGCH7wke8AUs3BpnwZJtAuEJkvQL2/9n4s5wUmUl4aCI4BwpraNx4RtEXMe5qg5T1LVTGliMRpKasKsW//e+RinhejgCuzoH26dyF8iY2ZZ/5D1ilgeijhV/vBka5twt399mXwaYdCwFYE=";

    fn pct_decode(s: &str) -> String {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn published_rsa_sha1_vector() {
        let url =
            url::Url::parse("http://photos.example.net/photos?file=vacaction.jpg&size=original")
                .unwrap();
        let params: Vec<(String, String)> = [
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_nonce", "13917289812797014437"),
            ("oauth_signature_method", "RSA-SHA1"),
            ("oauth_timestamp", "1196666512"),
            ("oauth_version", "1.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
        .collect();
        let base = base_string("GET", &url, &params).unwrap();
        assert_eq!(base, VECTOR_BASE);
        let key = parse_private_key(VECTOR_KEY).unwrap();
        // Blinded, yet deterministic: the published signature, every time.
        assert_eq!(sign(&key, &base), VECTOR_SIG);
        assert_eq!(sign(&key, &base), VECTOR_SIG);
    }

    #[test]
    fn header_carries_the_vector_signature() {
        let key = parse_private_key(VECTOR_KEY).unwrap();
        let url =
            url::Url::parse("http://photos.example.net/photos?file=vacaction.jpg&size=original")
                .unwrap();
        let creds = Credentials {
            consumer_key: "dpf43f3p2l4k3l03",
            key: &key,
            token: None,
        };
        let h = authorization_header_at(
            &creds,
            "GET",
            &url,
            &[],
            &[],
            "13917289812797014437",
            "1196666512",
        )
        .unwrap();
        let fields = h.strip_prefix("OAuth ").unwrap();
        let sig = fields
            .split(", ")
            .find_map(|f| f.strip_prefix("oauth_signature=\""))
            .unwrap()
            .trim_end_matches('"');
        assert_eq!(pct_decode(sig), VECTOR_SIG);
        assert!(fields.contains("oauth_signature_method=\"RSA-SHA1\""));
        assert!(!fields.contains("oauth_token"));
    }

    #[test]
    fn percent_encoding_follows_section_3_6() {
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode("a b+c"), "a%20b%2Bc");
        assert_eq!(
            percent_encode("=&%/:?*!'()"),
            "%3D%26%25%2F%3A%3F%2A%21%27%28%29"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("☃"), "%E2%98%83");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn url_normalisation() {
        let n = |s: &str| normalize_url(&url::Url::parse(s).unwrap()).unwrap();
        assert_eq!(
            n("HTTP://Jira.Example.COM:80/r/a?x=1#f"),
            "http://jira.example.com/r/a"
        );
        assert_eq!(
            n("https://jira.example.com:443/"),
            "https://jira.example.com/"
        );
        assert_eq!(
            n("https://jira.example.com:8443/a/B"),
            "https://jira.example.com:8443/a/B"
        );
        assert_eq!(n("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
    }

    #[test]
    fn base_string_sorts_and_encodes_every_parameter() {
        // RFC 5849 section 3.4.1.3.2's example: duplicate names, encoded
        // before sorting, query and body parameters together.
        let url = url::Url::parse("http://EXAMPLE.com:80/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b")
            .unwrap();
        let mut params: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (k, v) in [
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ] {
            params.push((k.into(), v.into()));
        }
        let b = base_string("post", &url, &params).unwrap();
        assert_eq!(
            b,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    #[test]
    fn pkcs1_and_pkcs8_keys_are_accepted_bad_ones_refused() {
        let k8 = parse_private_key(VECTOR_KEY).unwrap();
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let pkcs1 = k8.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"));
        let k1 = parse_private_key(&pkcs1).unwrap();
        assert_eq!(k1, k8);
        for bad in [
            "",
            "hello",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nnot base64!\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
        ] {
            match parse_private_key(bad) {
                Err(OAuthError::BadKey(m)) => assert!(!m.is_empty()),
                other => panic!("{bad:?} -> {other:?}"),
            }
        }
    }
}
