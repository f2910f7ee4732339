//! Delivery over HTTP(S): POST the JSON message to the URL.
//!
//! As in Resonate, only status 200 counts as delivered; any other answer (another 2xx, a
//! redirect, an error), a connection failure or no answer within the timeout is a failed delivery
//! and the task is sent again later. Redirects are not followed.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::DeliveryError;

/// An HTTP client for deliveries, with the delivery timeout set.
#[derive(Debug, Clone)]
pub(super) struct HttpSender {
    client: reqwest::Client,
}

impl HttpSender {
    /// A client whose requests give up after `timeout` (connecting, sending and the answer).
    pub(super) fn new(timeout: Duration) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("natsapi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(DeliveryError::HttpClient)?;
        Ok(HttpSender { client })
    }

    /// POSTs `body` to `url` as `application/json`; Ok only when the answer is 200.
    pub(super) async fn send(
        &self,
        url: &str,
        head: &std::collections::BTreeMap<String, String>,
        body: Bytes,
    ) -> Result<(), DeliveryError> {
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in head {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|source| DeliveryError::Http { url: url.to_owned(), source })?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(DeliveryError::HttpStatus { url: url.to_owned(), status }),
        }
    }
}
