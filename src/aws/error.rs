//! Turning AWS SDK errors into [`ProviderError`]s the reconciler can branch on.

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::{display::DisplayErrorContext, metadata::ProvideErrorMetadata};

use crate::provider::{ErrorKind, ProviderError, System};

/// Maps any SDK error to a [`ProviderError`] carrying the provider's error code and message.
///
/// The message never includes request headers or bodies, so credentials cannot leak through it.
pub(crate) fn from_sdk<E>(system: System, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = match &err {
        SdkError::ServiceError(service) => {
            let meta = service.err();
            let code = meta.code().unwrap_or("UnknownError");
            let status = service.raw().status().as_u16();
            let message = match meta.message() {
                Some(text) if !text.is_empty() => format!("{code}: {text}"),
                _ => format!("{code} (HTTP {status})"),
            };
            (classify(code, status), message)
        }
        SdkError::TimeoutError(_) => (ErrorKind::Transient, "request to AWS timed out".to_owned()),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_user() { ErrorKind::Other } else { ErrorKind::Transient };
            (kind, format!("could not reach AWS: {}", DisplayErrorContext(&err)))
        }
        SdkError::ResponseError(response) => {
            let status = response.raw().status().as_u16();
            let kind = if status >= 500 { ErrorKind::Transient } else { ErrorKind::Other };
            (kind, format!("unreadable response from AWS (HTTP {status})"))
        }
        _ => (ErrorKind::Other, format!("AWS request failed: {}", DisplayErrorContext(&err))),
    };
    ProviderError::new(system, kind, message)
}

/// Classifies an AWS error code (IAM/STS query protocol or ECR JSON protocol) and HTTP status.
pub(crate) fn classify(code: &str, status: u16) -> ErrorKind {
    match code {
        "NoSuchEntity" | "RepositoryNotFoundException" | "LifecyclePolicyNotFoundException" => {
            ErrorKind::NotFound
        }
        "EntityAlreadyExists" | "RepositoryAlreadyExistsException" | "DeleteConflict" => ErrorKind::Conflict,
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "ServiceFailure"
        | "InternalFailure"
        | "ServerException"
        | "ConcurrentModification"
        | "RequestTimeout" => ErrorKind::Transient,
        "UnrecognizedClient"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "MissingAuthenticationToken" => ErrorKind::Denied,
        code if code.starts_with("AccessDenied") => ErrorKind::Denied,
        "MalformedPolicyDocument"
        | "ValidationError"
        | "ValidationException"
        | "InvalidInput"
        | "InvalidParameter"
        | "InvalidParameterException"
        | "InvalidParameterValue"
        | "InvalidTagParameterException"
        | "LimitExceeded"
        | "LimitExceededException"
        | "TooManyTagsException" => ErrorKind::Invalid,
        _ if status >= 500 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// `NotFound` as `None`: looking something up and finding nothing is not an error for an ensure.
pub(crate) trait OptionalExt<T> {
    fn optional(self) -> Result<Option<T>, ProviderError>;
}

impl<T> OptionalExt<T> for Result<T, ProviderError> {
    fn optional(self) -> Result<Option<T>, ProviderError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `NotFound` as success: deleting something already gone is done.
pub(crate) fn ignore_not_found(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    result.optional().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_codes_map_to_the_kinds_callers_branch_on() {
        let cases = [
            ("NoSuchEntity", 404, ErrorKind::NotFound),
            ("RepositoryNotFoundException", 400, ErrorKind::NotFound),
            ("LifecyclePolicyNotFoundException", 400, ErrorKind::NotFound),
            ("EntityAlreadyExists", 409, ErrorKind::Conflict),
            ("RepositoryAlreadyExistsException", 400, ErrorKind::Conflict),
            ("Throttling", 400, ErrorKind::Transient),
            ("ThrottlingException", 400, ErrorKind::Transient),
            ("ServiceUnavailable", 503, ErrorKind::Transient),
            ("SomethingNew", 502, ErrorKind::Transient),
            ("AccessDenied", 403, ErrorKind::Denied),
            ("AccessDeniedException", 400, ErrorKind::Denied),
            ("UnrecognizedClientException", 400, ErrorKind::Denied),
            ("InvalidClientTokenId", 403, ErrorKind::Denied),
            ("MalformedPolicyDocument", 400, ErrorKind::Invalid),
            ("ValidationError", 400, ErrorKind::Invalid),
            ("InvalidParameterException", 400, ErrorKind::Invalid),
            ("SomethingNew", 400, ErrorKind::Other),
        ];
        for (code, status, kind) in cases {
            assert_eq!(classify(code, status), kind, "{code} (HTTP {status})");
        }
    }
}
