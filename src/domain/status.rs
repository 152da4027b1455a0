//! The states a service and its steps move through, stored as text.

use std::fmt;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What the user wants to exist.
    Desired {
        Present = "present",
        Absent = "absent",
    }
}

text_enum! {
    /// Where a service is in its life.
    ServiceStatus {
        /// Create steps are running (or waiting to be claimed).
        Provisioning = "provisioning",
        /// Everything exists; the first build has been started.
        Ready = "ready",
        /// A create step failed permanently; retry or delete.
        Failed = "failed",
        /// Delete steps are running.
        Deleting = "deleting",
        /// A delete step failed permanently; retry the deletion.
        DeleteFailed = "delete_failed",
        /// Torn down; the row stays for the audit trail and the name is free again.
        Deleted = "deleted",
    }
}

impl ServiceStatus {
    /// Nothing will happen until a person acts.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Ready | Self::Failed | Self::DeleteFailed | Self::Deleted)
    }

    /// The reconciler has work to do.
    pub fn is_in_progress(self) -> bool {
        matches!(self, Self::Provisioning | Self::Deleting)
    }
}

text_enum! {
    /// The state of one step.
    StepStatus {
        Pending = "pending",
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
}

text_enum! {
    /// Every step, create steps first, in the order they are shown.
    StepName {
        Preflight = "preflight",
        OidcProvider = "oidc_provider",
        EcrRepository = "ecr_repository",
        GithubRepository = "github_repository",
        OidcSubject = "oidc_subject",
        IamPolicy = "iam_policy",
        IamRole = "iam_role",
        IamAttachment = "iam_attachment",
        ActionsSecrets = "actions_secrets",
        FirstBuild = "first_build",
        DeleteRole = "delete_role",
        DeletePolicy = "delete_policy",
        DeleteEcrRepository = "delete_ecr_repository",
        DeleteGithubRepository = "delete_github_repository",
    }
}

impl StepName {
    pub const CREATE: [StepName; 10] = [
        StepName::Preflight,
        StepName::OidcProvider,
        StepName::EcrRepository,
        StepName::GithubRepository,
        StepName::OidcSubject,
        StepName::IamPolicy,
        StepName::IamRole,
        StepName::IamAttachment,
        StepName::ActionsSecrets,
        StepName::FirstBuild,
    ];

    /// IAM goes first so a recycled repository name can never assume a role left behind.
    pub const DELETE: [StepName; 4] = [
        StepName::DeleteRole,
        StepName::DeletePolicy,
        StepName::DeleteEcrRepository,
        StepName::DeleteGithubRepository,
    ];

    /// The steps that must be done before this one may start.
    pub fn depends_on(self) -> &'static [StepName] {
        use StepName::*;
        match self {
            Preflight => &[],
            OidcProvider | EcrRepository | GithubRepository => &[Preflight],
            OidcSubject => &[GithubRepository],
            IamPolicy => &[EcrRepository],
            IamRole => &[OidcProvider, OidcSubject],
            IamAttachment => &[IamRole, IamPolicy],
            // The secrets need the role's ARN, not its permissions: the attachment runs beside them.
            ActionsSecrets => &[IamRole, EcrRepository, GithubRepository],
            // The build needs everything: secrets to read and a role that can push.
            FirstBuild => &[ActionsSecrets, IamAttachment],
            DeleteRole => &[],
            DeletePolicy => &[DeleteRole],
            DeleteEcrRepository => &[DeleteRole],
            DeleteGithubRepository => &[DeleteRole],
        }
    }

    /// A failure of this step is shown but does not fail the service.
    pub fn is_best_effort(self) -> bool {
        self == StepName::FirstBuild
    }

    /// What the person sees next to the step.
    pub fn label(self) -> &'static str {
        use StepName::*;
        match self {
            Preflight => "Check that every name is free",
            OidcProvider => "GitHub OIDC provider in AWS",
            EcrRepository => "ECR repository (scan on push)",
            GithubRepository => "GitHub repository from the template",
            OidcSubject => "Read the repository's OIDC subject",
            IamPolicy => "IAM policy: push to this ECR repository",
            IamRole => "IAM role for the default branch",
            IamAttachment => "Attach the policy to the role",
            ActionsSecrets => "Actions secrets",
            FirstBuild => "First build",
            DeleteRole => "Delete the IAM role",
            DeletePolicy => "Delete the IAM policy",
            DeleteEcrRepository => "Delete the ECR repository and its images",
            DeleteGithubRepository => "Delete (or archive) the GitHub repository",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_text() {
        for s in ServiceStatus::ALL {
            assert_eq!(ServiceStatus::parse(s.as_str()), Some(*s));
        }
        for s in StepName::ALL {
            assert_eq!(StepName::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ServiceStatus::parse("nope"), None);
    }

    #[test]
    fn create_steps_only_depend_on_earlier_create_steps() {
        for (i, step) in StepName::CREATE.iter().enumerate() {
            for dep in step.depends_on() {
                let j = StepName::CREATE.iter().position(|s| s == dep).expect("a create step");
                assert!(j < i, "{step} depends on later {dep}");
            }
        }
    }

    #[test]
    fn the_role_goes_before_everything_else_on_delete() {
        for step in &StepName::DELETE[1..] {
            assert!(step.depends_on().contains(&StepName::DeleteRole));
        }
    }
}
