//! The states a service and its steps move through, and the other closed sets Shipyard stores.
//! Each is a Rust enum stored as text: [`text_enum!`] gives it its text form, parsing, `Display`,
//! serde, and sqlx encoding/decoding, so rows decode into the enum and a value the code does not
//! know is a decoding error rather than a string compared somewhere.

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::unknown_variant(&s, &[$($text),+]))
            }
        }

        // In the API description: a string that is one of the texts, straight from the enum.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Self::parse(text)
                    .ok_or_else(|| format!("unknown {} {text:?} in the database", stringify!($name)).into())
            }
        }
    };
}
pub(crate) use text_enum;

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
        /// Ready, but the drift check found resources that no longer match; repair or delete.
        Drifted = "drifted",
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
        matches!(self, Self::Ready | Self::Drifted | Self::Failed | Self::DeleteFailed | Self::Deleted)
    }

    /// The reconciler has work to do.
    pub fn is_in_progress(self) -> bool {
        matches!(self, Self::Provisioning | Self::Deleting)
    }

    /// Deletion may start (or start again) from every state but these two.
    pub fn is_deletable(self) -> bool {
        !matches!(self, Self::Deleting | Self::Deleted)
    }

    /// The status in words ("delete failed").
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }
}

text_enum! {
    /// The state of one step.
    StepStatus {
        Pending = "pending",
        Running = "running",
        /// Parked: the step is watching something slow (the first build) and is resumed by a
        /// timer or a wake-up; it holds no worker meanwhile.
        Waiting = "waiting",
        Done = "done",
        Failed = "failed",
    }
}

text_enum! {
    /// Every step, create steps first, in the order they are shown. What each does, its label,
    /// phase and dependencies are declared once, in `provision::steps`.
    StepName {
        Preflight = "preflight",
        OidcProvider = "oidc_provider",
        EcrRepository = "ecr_repository",
        EcrSettings = "ecr_settings",
        GithubRepository = "github_repository",
        TeamAccess = "team_access",
        OidcSubject = "oidc_subject",
        IamPolicy = "iam_policy",
        IamRole = "iam_role",
        IamAttachment = "iam_attachment",
        ActionsSecrets = "actions_secrets",
        GithubWebhook = "github_webhook",
        OwnershipFiles = "ownership_files",
        SecurityBaseline = "security_baseline",
        BranchRuleset = "branch_ruleset",
        FirstBuild = "first_build",
        PushRole = "push_role",
        PushRoleAttachment = "push_role_attachment",
        PushRoleSecret = "push_role_secret",
        RemovePushRoleSecret = "remove_push_role_secret",
        DetachPushRole = "detach_push_role",
        RemovePushRole = "remove_push_role",
        DeleteRole = "delete_role",
        DeletePushRole = "delete_push_role",
        DeletePolicy = "delete_policy",
        DeleteEcrRepository = "delete_ecr_repository",
        DeleteGithubRepository = "delete_github_repository",
    }
}

text_enum! {
    /// What kind of workflow run an extra push role admits (see `domain::push_role`).
    RoleKind {
        Branch = "branch",
        /// Tags matching a pattern with at most one trailing `*`.
        Tag = "tag",
        /// Jobs that name a deployment environment.
        Environment = "environment",
    }
}

text_enum! {
    /// How an audited action ended.
    Outcome {
        Success = "success",
        Failure = "failure",
        Denied = "denied",
    }
}

// `text_enum!` derives a fixed set of traits, so the default is written out.
#[allow(clippy::derivable_impls)]
impl Default for Outcome {
    fn default() -> Self {
        Self::Success
    }
}

text_enum! {
    /// What the audit trail records.
    AuditAction {
        Login = "login",
        Logout = "logout",
        Create = "create",
        Retry = "retry",
        DeleteRequested = "delete_requested",
        /// Written by the reconciler when a service became ready.
        Provisioned = "provisioned",
        StepFailed = "step_failed",
        DeleteDone = "delete_done",
        /// A member left the organization (or lost an admitted role): their sessions were ended.
        SessionEnded = "session_ended",
        /// The drift check found a service's resources changed (or found more changed).
        DriftDetected = "drift_detected",
        /// The drift check found a drifted service's resources as Shipyard made them again.
        DriftResolved = "drift_resolved",
        /// A person asked Shipyard to re-run the ensures of the drifted resources.
        RepairRequested = "repair_requested",
        /// A person asked for an extra push role on a service.
        RoleRequested = "role_requested",
        /// A person asked for an extra push role to be removed.
        RoleRemovalRequested = "role_removal_requested",
        /// A person asked for Check now (recorded when refused: it changes nothing).
        DriftCheckRequested = "drift_check_requested",
        /// A person moved a service to another owning team.
        TeamChanged = "team_changed",
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
    fn serde_uses_the_text_form_and_refuses_unknown_values() {
        assert_eq!(serde_json::to_value(ServiceStatus::DeleteFailed).unwrap(), "delete_failed");
        assert_eq!(serde_json::from_value::<StepName>("iam_role".into()).unwrap(), StepName::IamRole);
        assert!(serde_json::from_value::<StepName>("iam_rol".into()).is_err());
    }
}
