//! What a step needs to know: the service, its derived names and tags, and earlier steps' outputs.

use std::collections::HashMap;

use serde_json::Value;

use crate::{
    aws::ResourceTags,
    db::services::Service,
    domain::{BranchName, Environment, IamNames, ServiceName, StepName, TemplateRef},
    provider::{ErrorKind, ProviderError, System},
};

/// A snapshot handed to one step run.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub service: Service,
    pub name: ServiceName,
    pub branch: BranchName,
    pub template: TemplateRef,
    pub iam: IamNames,
    pub tags: ResourceTags,
    pub outputs: HashMap<StepName, Value>,
}

impl StepContext {
    /// Re-parses the stored row. It was parsed when it was written, so failure means the row was
    /// changed by hand; the step then fails with that message rather than guessing.
    pub fn new(service: Service, outputs: HashMap<StepName, Value>) -> Result<Self, String> {
        let name = ServiceName::parse(&service.name)?;
        let environment =
            Environment::parse(&service.environment, std::slice::from_ref(&service.environment))?;
        let branch = BranchName::parse(&service.default_branch)?;
        let template = TemplateRef::parse(&service.template, std::slice::from_ref(&service.template))?;
        let iam = IamNames::derive(&service.org, &name, &environment, &branch)?;
        let tags = ResourceTags {
            service: service.name.clone(),
            environment: service.environment.clone(),
            service_id: service.service_id,
        };
        Ok(Self { service, name, branch, template, iam, tags, outputs })
    }

    /// A string output of an earlier step. Missing means the graph is wrong: a bug, not a provider error.
    pub fn output(&self, step: StepName, key: &str) -> Result<String, ProviderError> {
        self.outputs
            .get(&step)
            .and_then(|o| o.get(key))
            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
            .ok_or_else(|| {
                ProviderError::new(
                    System::Shipyard,
                    ErrorKind::Other,
                    format!("internal: step {step} recorded no {key}; retry the service"),
                )
            })
    }

    pub fn org(&self) -> &str {
        &self.service.org
    }
}
