//! One blocking HTTP POST as the webhook, Slack and PagerDuty channels make it, with the
//! answer sorted into success, retryable and permanent failures.

use std::io::Read;
use std::time::Duration;

use crate::retry::{http_status_retryable, parse_retry_after, AttemptError};

/// `trailwatch/<version>`, sent as `User-Agent` by every HTTP channel.
pub const USER_AGENT: &str = concat!("trailwatch/", env!("CARGO_PKG_VERSION"));

/// How much of an error answer is kept for the delivery's error message: enough for Slack's
/// `invalid_payload` or PagerDuty's error list, not a whole HTML error page.
const ERROR_BODY_EXCERPT: u64 = 300;

#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    /// `proxy` is explicit: the client does not pick one up from `HTTPS_PROXY` and friends,
    /// because a library does not read the environment (and tests must stay on loopback).
    pub fn new(timeout: Duration, proxy: Option<&str>) -> Result<HttpClient, ureq::Error> {
        let proxy = proxy.map(ureq::Proxy::new).transpose()?;
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .proxy(proxy)
            // A redirect would resend a signed body somewhere the operator did not name.
            .max_redirects(0)
            .build();
        Ok(HttpClient { agent: config.new_agent() })
    }

    /// POSTs `body` as JSON. Returns the status of a 2xx answer.
    pub fn post_json(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, AttemptError> {
        let mut request = self.agent.post(url).header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send(body) {
            Ok(response) => response,
            // Everything the client itself reports (refused, reset, timeout, DNS, TLS) is a
            // network problem that may pass, except a URL it cannot even parse.
            Err(ureq::Error::BadUri(_)) => return Err(AttemptError::permanent(None, "bad url")),
            Err(e) => return Err(AttemptError::retryable(None, e.to_string())),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(status);
        }
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let mut excerpt = String::new();
        // The body is only for the message; a failure to read it changes nothing.
        let _ = response.body_mut().as_reader().take(ERROR_BODY_EXCERPT).read_to_string(&mut excerpt);
        let excerpt = excerpt.trim();
        let message =
            if excerpt.is_empty() { format!("http {status}") } else { format!("http {status}: {excerpt}") };
        let mut error = if http_status_retryable(status) {
            AttemptError::retryable(Some(status), message)
        } else {
            AttemptError::permanent(Some(status), message)
        };
        // 429 and 503 are the answers where Retry-After means "come back then".
        if status == 429 || status == 503 {
            error.retry_after = retry_after;
        }
        Err(error)
    }
}
