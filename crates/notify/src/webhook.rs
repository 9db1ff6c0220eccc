//! The generic webhook: the versioned JSON document, signed with HMAC-SHA256 so the receiver
//! can tell it came from us and was not changed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;
use crate::notification::{Notification, WebhookPayload};

pub const SIGNATURE_HEADER: &str = "X-Trailwatch-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Trailwatch-Timestamp";
pub const DELIVERY_HEADER: &str = "X-Trailwatch-Delivery";

/// `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`, over the exact bytes sent.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("hmac accepts any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a `X-Trailwatch-Signature` value against a body in constant time (for receivers
/// written in Rust, and for our tests).
pub fn verify_signature(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex_sig) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("hmac accepts any key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The body and headers of one delivery, made once so that every retry sends the same bytes
/// with the same delivery id.
pub(crate) struct WebhookRequest {
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

pub(crate) fn request(
    notification: &Notification,
    secret: Option<&Secret>,
    delivery_id: String,
    sent_at: i64,
) -> WebhookRequest {
    let payload = WebhookPayload::new(notification, delivery_id.clone(), sent_at);
    let body = serde_json::to_vec(&payload).expect("a notification always serializes");
    let mut headers = vec![(TIMESTAMP_HEADER, sent_at.to_string()), (DELIVERY_HEADER, delivery_id)];
    if let Some(secret) = secret {
        headers.push((SIGNATURE_HEADER, signature(secret, &body)));
    }
    WebhookRequest { body, headers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        let secret = Secret::new("Jefe");
        let sig = signature(&secret, b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_signature(&secret, b"what do ya want for nothing?", &sig));
        assert!(!verify_signature(&secret, b"what do ya want for nothing!", &sig));
        assert!(!verify_signature(&Secret::new("other"), b"what do ya want for nothing?", &sig));
        assert!(!verify_signature(&secret, b"x", "md5=00"));
    }
}
