//! Pure: the ECS side of a release. Which release a task definition serves, the new
//! revision a deploy registers, the service update that moves a service to a revision,
//! and where production goes on promote and rollback.
//!
//! Both services (staging and production) run revisions of one task definition family;
//! a revision serves the release its container `php` names in `LAMPHP_RELEASE`, so, as a
//! Lambda version does, a revision pins its release. ECS keeps no history of a service,
//! so production remembers the revision to roll back to in a tag on the service,
//! `lamphp:previous=<task definition ARN>` (as `live` does in its Description). Rolling
//! back swaps current and previous, so a second rollback undoes the first.

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionInputBuilder;
use aws_sdk_ecs::operation::update_service::builders::UpdateServiceInputBuilder;
use aws_sdk_ecs::types::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentControllerType,
    DeploymentRolloutState, KeyValuePair, Service, Tag, TaskDefinition,
};
use thiserror::Error;

/// The container whose environment names the release.
pub const CONTAINER: &str = "php";
/// The tag on the production service that names the revision to roll back to.
pub const PREVIOUS_TAG: &str = "lamphp:previous";
const RELEASE_VAR: &str = crate::function::RELEASE_VAR;

#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    #[error("task definition {0} has no container named `php` (it has: {1}): lamphp sets LAMPHP_RELEASE on the container named php")]
    NoPhpContainer(String, String),
    #[error("container php of {0} takes LAMPHP_RELEASE from a secret: remove that secret, lamphp sets it in the environment")]
    ReleaseIsSecret(String),
    #[error("service {0} uses the {1} deployment controller: lamphp moves services that ECS itself rolls out (deployment controller ECS)")]
    Controller(String, String),
    #[error("service {0} runs no task definition")]
    NoTaskDefinition(String),
    #[error("service {0} already runs {1}; deploy something new first")]
    AlreadyLive(String, String),
    #[error("staging's rollout of {0} is {1}: promote once it is COMPLETED (`lamphp status`)")]
    NotRolledOut(String, String),
    #[error("service {0} does not remember a previous task definition (no `lamphp:previous` tag): move it with `aws ecs update-service`")]
    NoPrevious(String),
}

fn name(service: &Service) -> String {
    service.service_name().unwrap_or("?").to_owned()
}

fn arn(td: &TaskDefinition) -> String {
    td.task_definition_arn().unwrap_or("?").to_owned()
}

/// The release `td` serves: its container `php`'s `LAMPHP_RELEASE`.
pub fn release_of(td: &TaskDefinition) -> Option<&str> {
    td.container_definitions()
        .iter()
        .find(|c| c.name() == Some(CONTAINER))?
        .environment()
        .iter()
        .find(|kv| kv.name() == Some(RELEASE_VAR))?
        .value()
}

/// `family:revision`, the short name of the task definition `arn`.
pub fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The family of the task definition `arn`.
pub fn family(arn: &str) -> &str {
    let short = short(arn);
    short.rsplit_once(':').map_or(short, |(family, _)| family)
}

/// The revision a deploy registers: `td` as it is (with its `tags`), except that
/// container `php`'s `LAMPHP_RELEASE` is `release`. Every field RegisterTaskDefinition
/// accepts is copied; what ECS reports but does not accept (ARN, revision, status,
/// compatibilities, requiresAttributes, registeredAt/By) is not, nor inference
/// accelerators, which ECS no longer accepts.
pub fn next_revision(
    td: &TaskDefinition,
    tags: &[Tag],
    release: &str,
) -> Result<RegisterTaskDefinitionInputBuilder, PlanError> {
    let mut containers = td.container_definitions().to_vec();
    let Some(php) = containers
        .iter_mut()
        .find(|c| c.name.as_deref() == Some(CONTAINER))
    else {
        let names: Vec<&str> = td
            .container_definitions()
            .iter()
            .filter_map(|c| c.name())
            .collect();
        return Err(PlanError::NoPhpContainer(arn(td), names.join(", ")));
    };
    if php.secrets().iter().any(|s| s.name == RELEASE_VAR) {
        return Err(PlanError::ReleaseIsSecret(arn(td)));
    }
    let env = php.environment.get_or_insert_with(Vec::new);
    env.retain(|kv| kv.name() != Some(RELEASE_VAR));
    env.push(
        KeyValuePair::builder()
            .name(RELEASE_VAR)
            .value(release)
            .build(),
    );
    Ok(RegisterTaskDefinitionInputBuilder::default()
        .set_family(td.family.clone())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_volumes(nonempty(td.volumes()))
        .set_placement_constraints(nonempty(td.placement_constraints()))
        .set_requires_compatibilities(nonempty(td.requires_compatibilities()))
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_tags(nonempty(tags))
        .set_pid_mode(td.pid_mode.clone())
        .set_ipc_mode(td.ipc_mode.clone())
        .set_proxy_configuration(td.proxy_configuration.clone())
        .set_ephemeral_storage(td.ephemeral_storage.clone())
        .set_runtime_platform(td.runtime_platform.clone())
        .set_enable_fault_injection(td.enable_fault_injection))
}

/// `Some` list unless it is empty: empty lists are left out rather than sent.
fn nonempty<T: Clone>(list: &[T]) -> Option<Vec<T>> {
    Some(list.to_vec()).filter(|l| !l.is_empty())
}

/// The update that moves `service` (in `cluster`) to `task_definition`: a rolling
/// deployment with the circuit breaker on (enable and rollback), the rest of the
/// service's deployment configuration kept. Refused for services that ECS does not
/// roll out itself (CODE_DEPLOY, EXTERNAL).
pub fn move_to(
    cluster: &str,
    service: &Service,
    task_definition: &str,
) -> Result<UpdateServiceInputBuilder, PlanError> {
    rolling(service)?;
    let mut config = service
        .deployment_configuration
        .clone()
        .unwrap_or_else(|| DeploymentConfiguration::builder().build());
    let breaker = config.deployment_circuit_breaker.get_or_insert_with(|| {
        DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(true)
            .build()
    });
    breaker.enable = true;
    breaker.rollback = true;
    Ok(UpdateServiceInputBuilder::default()
        .cluster(cluster)
        .service(name(service))
        .task_definition(task_definition)
        .deployment_configuration(config))
}

/// Whether ECS rolls `service` out itself (no controller reported is ECS's default).
pub fn rolling(service: &Service) -> Result<(), PlanError> {
    match service.deployment_controller().map(|c| &c.r#type) {
        None | Some(DeploymentControllerType::Ecs) => Ok(()),
        Some(other) => Err(PlanError::Controller(
            name(service),
            other.as_str().to_owned(),
        )),
    }
}

/// The task definition `service` runs.
pub fn running(service: &Service) -> Result<&str, PlanError> {
    service
        .task_definition()
        .ok_or_else(|| PlanError::NoTaskDefinition(name(service)))
}

/// The revision `service`'s tag says to roll back to.
pub fn previous(service: &Service) -> Option<&str> {
    service
        .tags()
        .iter()
        .find(|t| t.key() == Some(PREVIOUS_TAG))?
        .value()
        .filter(|v| !v.is_empty())
}

/// The PRIMARY deployment (the one rolling out, or done), if ECS reports one.
pub fn primary(service: &Service) -> Option<&aws_sdk_ecs::types::Deployment> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
}

/// Where production goes: its task definition, and the one it remembers (`None`: none).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub task_definition: String,
    pub previous: Option<String>,
}

/// `promote`: production moves to the revision staging runs, once staging's rollout is
/// complete. It remembers the revision it leaves, unless that one serves no release
/// (the stack's first revision, before any deploy: nothing to roll back to, as `live`
/// remembers nothing on the first promote).
pub fn promote(
    staging: &Service,
    production: &Service,
    production_release: Option<&str>,
) -> Result<Target, PlanError> {
    let new = running(staging)?;
    rolling(staging)?;
    rolling(production)?;
    if let Some(state) = primary(staging).and_then(|d| d.rollout_state()) {
        if *state != DeploymentRolloutState::Completed {
            return Err(PlanError::NotRolledOut(
                short(new).to_owned(),
                state.as_str().to_owned(),
            ));
        }
    }
    let current = running(production)?;
    if current == new {
        return Err(PlanError::AlreadyLive(
            name(production),
            short(new).to_owned(),
        ));
    }
    Ok(Target {
        task_definition: new.to_owned(),
        previous: production_release.map(|_| current.to_owned()),
    })
}

/// `rollback`: production moves back to the revision it remembers, and remembers the
/// one it leaves.
pub fn rollback(production: &Service) -> Result<Target, PlanError> {
    rolling(production)?;
    let current = running(production)?;
    let back = previous(production).ok_or_else(|| PlanError::NoPrevious(name(production)))?;
    Ok(Target {
        task_definition: back.to_owned(),
        previous: Some(current.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        ContainerDefinition, DeploymentController, EphemeralStorage, NetworkMode, RuntimePlatform,
        Secret, Volume,
    };

    const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/site:1";
    const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/site:2";
    const TD3: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/site:3";

    fn container(name: &str, env: &[(&str, &str)]) -> ContainerDefinition {
        let mut c = ContainerDefinition::builder()
            .name(name)
            .image("site:latest");
        for (k, v) in env {
            c = c.environment(KeyValuePair::builder().name(*k).value(*v).build());
        }
        c.build()
    }

    fn definition(containers: Vec<ContainerDefinition>) -> TaskDefinition {
        TaskDefinition::builder()
            .task_definition_arn(TD1)
            .family("site")
            .revision(1)
            .set_container_definitions(Some(containers))
            .build()
    }

    fn env_of(
        input: &RegisterTaskDefinitionInputBuilder,
        container: &str,
    ) -> Vec<(String, String)> {
        input
            .get_container_definitions()
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.name() == Some(container))
            .unwrap()
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap().to_owned(),
                    kv.value().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn pairs(env: &[(&str, &str)]) -> Vec<(String, String)> {
        env.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_new_revision_changes_only_the_release() {
        // (case, containers, php's environment after, sidecar's environment after)
        type Case<'a> = (&'a str, Vec<ContainerDefinition>, Vec<(String, String)>);
        let table: Vec<Case> = vec![
            (
                "replaced, other variables kept in order",
                vec![container(
                    "php",
                    &[("A", "1"), ("LAMPHP_RELEASE", "old"), ("B", "2")],
                )],
                pairs(&[("A", "1"), ("B", "2"), ("LAMPHP_RELEASE", "new")]),
            ),
            (
                "added",
                vec![container("php", &[("A", "1")])],
                pairs(&[("A", "1"), ("LAMPHP_RELEASE", "new")]),
            ),
            (
                "no environment",
                vec![container("php", &[])],
                pairs(&[("LAMPHP_RELEASE", "new")]),
            ),
            (
                "php among others",
                vec![
                    container("proxy", &[("LAMPHP_RELEASE", "sidecar's")]),
                    container("php", &[("LAMPHP_RELEASE", "old")]),
                ],
                pairs(&[("LAMPHP_RELEASE", "new")]),
            ),
        ];
        for (case, containers, want) in table {
            let others: Vec<ContainerDefinition> = containers
                .iter()
                .filter(|c| c.name() != Some("php"))
                .cloned()
                .collect();
            let input = next_revision(&definition(containers), &[], "new").unwrap();
            assert_eq!(env_of(&input, "php"), want, "{case}");
            for other in others {
                assert!(
                    input
                        .get_container_definitions()
                        .as_ref()
                        .unwrap()
                        .contains(&other),
                    "{case}: {other:?} changed"
                );
            }
        }
    }

    #[test]
    fn the_new_revision_keeps_every_field_register_accepts() {
        let tags = [Tag::builder().key("team").value("web").build()];
        let mut old = definition(vec![container("php", &[])]);
        old.task_role_arn = Some("arn:aws:iam::123456789012:role/task".into());
        old.execution_role_arn = Some("arn:aws:iam::123456789012:role/exec".into());
        old.network_mode = Some(NetworkMode::Awsvpc);
        old.volumes = Some(vec![Volume::builder().name("site").build()]);
        old.requires_compatibilities = Some(vec![aws_sdk_ecs::types::Compatibility::Fargate]);
        old.cpu = Some("512".into());
        old.memory = Some("1024".into());
        old.runtime_platform = Some(RuntimePlatform::builder().build());
        old.ephemeral_storage = Some(EphemeralStorage::builder().size_in_gib(30).build());
        old.enable_fault_injection = Some(false);
        let input = next_revision(&old, &tags, "new").unwrap();
        assert_eq!(input.get_family().as_deref(), Some("site"));
        assert_eq!(input.get_task_role_arn(), &old.task_role_arn);
        assert_eq!(input.get_execution_role_arn(), &old.execution_role_arn);
        assert_eq!(input.get_network_mode(), &old.network_mode);
        assert_eq!(input.get_volumes(), &old.volumes);
        assert_eq!(
            input.get_requires_compatibilities(),
            &old.requires_compatibilities
        );
        assert_eq!(input.get_cpu(), &old.cpu);
        assert_eq!(input.get_memory(), &old.memory);
        assert_eq!(input.get_runtime_platform(), &old.runtime_platform);
        assert_eq!(input.get_ephemeral_storage(), &old.ephemeral_storage);
        assert_eq!(input.get_enable_fault_injection(), &Some(false));
        assert_eq!(input.get_tags().as_deref(), Some(&tags[..]));
        // Empty lists are left out rather than sent empty.
        assert_eq!(input.get_placement_constraints(), &None);
        assert!(input.clone().build().is_ok());
    }

    #[test]
    fn the_new_revision_needs_a_php_container() {
        let table = [
            (
                definition(vec![container("web", &[]), container("proxy", &[])]),
                PlanError::NoPhpContainer(TD1.into(), "web, proxy".into()),
            ),
            (
                {
                    let mut php = container("php", &[]);
                    php.secrets = Some(vec![Secret::builder()
                        .name("LAMPHP_RELEASE")
                        .value_from("arn:aws:ssm:us-east-1:123456789012:parameter/r")
                        .build()
                        .unwrap()]);
                    definition(vec![php])
                },
                PlanError::ReleaseIsSecret(TD1.into()),
            ),
        ];
        for (td, want) in table {
            assert_eq!(next_revision(&td, &[], "new").unwrap_err(), want);
        }
    }

    #[test]
    fn releases_of_definitions() {
        let table = [
            (
                vec![container("php", &[("LAMPHP_RELEASE", "abc")])],
                Some("abc"),
            ),
            (vec![container("php", &[("OTHER", "x")])], None),
            (vec![container("web", &[("LAMPHP_RELEASE", "abc")])], None),
        ];
        for (containers, want) in table {
            assert_eq!(release_of(&definition(containers)), want);
        }
        assert_eq!(short(TD2), "site:2");
        assert_eq!(family(TD2), "site");
        assert_eq!(
            family("arn:aws:ecs:r:1:task-definition/my-site:12"),
            "my-site"
        );
    }

    fn service(
        name: &str,
        td: Option<&str>,
        previous: Option<&str>,
        rollout: Option<DeploymentRolloutState>,
    ) -> Service {
        let mut s = Service::builder()
            .service_name(name)
            .set_task_definition(td.map(str::to_owned));
        if let Some(p) = previous {
            s = s.tags(Tag::builder().key(PREVIOUS_TAG).value(p).build());
        }
        if let Some(state) = rollout {
            s = s.deployments(
                aws_sdk_ecs::types::Deployment::builder()
                    .status("ACTIVE")
                    .rollout_state(DeploymentRolloutState::Failed)
                    .build(),
            );
            s = s.deployments(
                aws_sdk_ecs::types::Deployment::builder()
                    .status("PRIMARY")
                    .rollout_state(state)
                    .build(),
            );
        }
        s.build()
    }

    fn controlled(mut s: Service, kind: DeploymentControllerType) -> Service {
        s.deployment_controller = Some(
            DeploymentController::builder()
                .r#type(kind)
                .build()
                .unwrap(),
        );
        s
    }

    type Plan = Result<Target, PlanError>;

    fn target(td: &str, previous: Option<&str>) -> Plan {
        Ok(Target {
            task_definition: td.into(),
            previous: previous.map(str::to_owned),
        })
    }

    #[test]
    fn plans() {
        let done = Some(DeploymentRolloutState::Completed);
        let staged2 = service("staging", Some(TD2), None, done.clone());
        let prod1 = service("production", Some(TD1), Some(TD3), None);
        let codedeploy = controlled(prod1.clone(), DeploymentControllerType::CodeDeploy);
        let table: Vec<(&str, Plan, Plan)> = vec![
            (
                "promote",
                promote(&staged2, &prod1, Some("r1")),
                target(TD2, Some(TD1)),
            ),
            (
                "first promote: production served no release",
                promote(&staged2, &prod1, None),
                target(TD2, None),
            ),
            (
                "promote again",
                promote(
                    &staged2,
                    &service("production", Some(TD2), None, None),
                    None,
                ),
                Err(PlanError::AlreadyLive("production".into(), "site:2".into())),
            ),
            (
                "promote during staging's rollout",
                promote(
                    &service(
                        "staging",
                        Some(TD2),
                        None,
                        Some(DeploymentRolloutState::InProgress),
                    ),
                    &prod1,
                    Some("r1"),
                ),
                Err(PlanError::NotRolledOut(
                    "site:2".into(),
                    "IN_PROGRESS".into(),
                )),
            ),
            (
                "promote a failed rollout",
                promote(
                    &service(
                        "staging",
                        Some(TD2),
                        None,
                        Some(DeploymentRolloutState::Failed),
                    ),
                    &prod1,
                    Some("r1"),
                ),
                Err(PlanError::NotRolledOut("site:2".into(), "FAILED".into())),
            ),
            (
                "promote, no deployments reported",
                promote(
                    &service("staging", Some(TD2), None, None),
                    &prod1,
                    Some("r1"),
                ),
                target(TD2, Some(TD1)),
            ),
            (
                "promote to CODE_DEPLOY",
                promote(&staged2, &codedeploy, Some("r1")),
                Err(PlanError::Controller(
                    "production".into(),
                    "CODE_DEPLOY".into(),
                )),
            ),
            (
                "promote an empty staging",
                promote(&service("staging", None, None, None), &prod1, None),
                Err(PlanError::NoTaskDefinition("staging".into())),
            ),
            ("rollback", rollback(&prod1), target(TD3, Some(TD1))),
            (
                "rollback twice",
                rollback(&service("production", Some(TD3), Some(TD1), None)),
                target(TD1, Some(TD3)),
            ),
            (
                "rollback with nothing remembered",
                rollback(&service("production", Some(TD1), None, None)),
                Err(PlanError::NoPrevious("production".into())),
            ),
            (
                "rollback an empty tag",
                rollback(&service("production", Some(TD1), Some(""), None)),
                Err(PlanError::NoPrevious("production".into())),
            ),
            (
                "rollback EXTERNAL",
                rollback(&controlled(
                    prod1.clone(),
                    DeploymentControllerType::External,
                )),
                Err(PlanError::Controller(
                    "production".into(),
                    "EXTERNAL".into(),
                )),
            ),
        ];
        for (case, got, want) in table {
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn moves_keep_the_circuit_breaker_on() {
        let keep = DeploymentConfiguration::builder()
            .maximum_percent(200)
            .minimum_healthy_percent(100)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(false)
                    .rollback(false)
                    .build(),
            )
            .build();
        let table = [(None, None, None), (Some(keep), Some(200), Some(100))];
        for (config, max, min) in table {
            let mut s = service("staging", Some(TD1), None, None);
            s.deployment_configuration = config;
            let update = move_to("site", &s, TD2).unwrap();
            assert_eq!(update.get_cluster().as_deref(), Some("site"));
            assert_eq!(update.get_service().as_deref(), Some("staging"));
            assert_eq!(update.get_task_definition().as_deref(), Some(TD2));
            let config = update.get_deployment_configuration().as_ref().unwrap();
            let breaker = config.deployment_circuit_breaker().unwrap();
            assert!(breaker.enable && breaker.rollback, "{config:?}");
            assert_eq!(
                (config.maximum_percent, config.minimum_healthy_percent),
                (max, min)
            );
        }
        let s = controlled(
            service("staging", Some(TD1), None, None),
            DeploymentControllerType::Ecs,
        );
        assert!(move_to("site", &s, TD2).is_ok());
        let s = controlled(s, DeploymentControllerType::CodeDeploy);
        assert_eq!(
            move_to("site", &s, TD2).unwrap_err(),
            PlanError::Controller("staging".into(), "CODE_DEPLOY".into())
        );
    }
}
