//! Shared AWS plumbing: one SDK configuration per process and one rule for classifying SDK errors as
//! transient (throttling, 5xx, timeouts, dropped connections) or not.
//!
//! Endpoints come from the standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL_DYNAMODB` variables (read by `aws-config`), or from [`AwsSettings::endpoint`] in tests.
//! When any custom endpoint is in use, S3 uses path-style addressing (MinIO, LocalStack, moto).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// How to reach AWS (everything optional: the default chain is used for what is not set).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Endpoint for every service (overrides `AWS_ENDPOINT_URL*`).
    pub endpoint: Option<String>,
    /// Region (default: the provider chain, else `us-east-1`).
    pub region: Option<String>,
    /// Static access key and secret (default: the provider chain).
    pub static_credentials: Option<(String, String)>,
}

impl AwsSettings {
    /// Settings for a local server: endpoint, static test credentials, `us-east-1`.
    pub fn local(endpoint: &str) -> Self {
        Self {
            endpoint: Some(endpoint.to_string()),
            region: Some("us-east-1".into()),
            static_credentials: Some(("testing".into(), "testing".into())),
        }
    }

    /// True when requests go to a custom endpoint (so S3 must use path-style addressing).
    pub fn custom_endpoint(&self) -> bool {
        self.endpoint.is_some()
            || ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
                .iter()
                .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
    }

    /// Loads the SDK configuration (call once per process / cold start).
    pub async fn load(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::from_env().http_client(https_client());
        if let Some(e) = &self.endpoint {
            loader = loader.endpoint_url(e);
        }
        if let Some((key, secret)) = &self.static_credentials {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                key,
                secret,
                None,
                None,
                "polarity-static",
            ));
        }
        let region = self.region.clone();
        let cfg = loader.load().await;
        if region.is_some() || cfg.region().is_none() {
            let r = aws_config::Region::new(region.unwrap_or_else(|| "us-east-1".into()));
            return cfg.into_builder().region(r).build();
        }
        cfg
    }
}

/// The HTTP client of every SDK client and credential provider made from one [`AwsSettings::load`] (a new
/// one per load): hyper with rustls on ring (HTTP and HTTPS; certificates from the system's trust store).
fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Error codes that mean "slow down / try again".
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "SlowDown",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "TransactionInProgressException",
];

/// Where requests to `service` (`s3`, `dynamodb`) go: its `AWS_ENDPOINT_URL_*` variable, else
/// `AWS_ENDPOINT_URL`, else AWS itself.
pub fn endpoint(service: &str) -> String {
    let specific = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    [specific.as_str(), "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("the AWS {service} endpoint"))
}

/// An SDK error in one line: the service's code and message for an answer, or the chain of causes
/// (each once, no debug dump) with the endpoint for a request that got no answer.
pub fn describe<E>(service: &str, e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(se) = e {
        let status = se.raw().status().as_u16();
        return match (se.err().code(), se.err().message()) {
            (Some(c), Some(m)) => format!("{c}: {m} (HTTP {status})"),
            (Some(c), None) => format!("{c} (HTTP {status})"),
            _ => format!("HTTP {status}"),
        };
    }
    let mut chain: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !s.is_empty() && !chain.iter().any(|c| c.contains(&s)) {
            chain.push(s);
        }
        cur = err.source();
    }
    let what = match e {
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not send the request",
        SdkError::ResponseError(_) => "could not read the response",
        _ => "failed",
    };
    format!("{what} to {}: {}", endpoint(service), chain.join(": ")).replace('\n', " ")
}

/// `(transient, message)` for an SDK error of `service` (see [`describe`]).
pub fn classify<E>(service: &str, e: &SdkError<E, HttpResponse>) -> (bool, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let msg = describe(service, e);
    let transient = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            status >= 500
                || status == 429
                || se
                    .err()
                    .code()
                    .is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        _ => false,
    };
    (transient, msg)
}

/// The HTTP status of a service error, if it is one.
pub fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}
