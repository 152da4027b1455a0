//! What the step rows say: per-service wall time, per-step durations, which calls each step made,
//! and the critical path through the create graph.

use std::collections::{BTreeMap, HashMap};

use shipyard::domain::StepName;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::recorder::{AwsCall, GithubCall};

/// One step row of a finished service.
#[derive(Debug, Clone)]
pub struct StepTiming {
    pub step: StepName,
    pub status: String,
    pub started: OffsetDateTime,
    pub finished: OffsetDateTime,
}

impl StepTiming {
    pub fn millis(&self) -> f64 {
        millis(self.finished - self.started)
    }

    fn contains(&self, at: OffsetDateTime) -> bool {
        self.started <= at && at <= self.finished
    }
}

/// A service after the reconciler settled it.
#[derive(Debug, Clone)]
pub struct ServiceRun {
    pub name: String,
    pub status: String,
    pub error: Option<String>,
    pub steps: Vec<StepTiming>,
}

impl ServiceRun {
    pub fn started(&self) -> Option<OffsetDateTime> {
        self.steps.iter().map(|s| s.started).min()
    }

    pub fn finished(&self) -> Option<OffsetDateTime> {
        self.steps.iter().map(|s| s.finished).max()
    }

    /// min(started_at) to max(finished_at) over its steps.
    pub fn wall_ms(&self) -> f64 {
        match (self.started(), self.finished()) {
            (Some(start), Some(end)) => millis(end - start),
            _ => 0.0,
        }
    }

    /// The longest dependency chain through this service's own measured step durations.
    pub fn own_critical_path_ms(&self) -> f64 {
        let by_step: HashMap<StepName, f64> = self.steps.iter().map(|s| (s.step, s.millis())).collect();
        critical_path(|step| by_step.get(&step).copied().unwrap_or(0.0)).0
    }

    pub fn step_sum_ms(&self) -> f64 {
        self.steps.iter().map(StepTiming::millis).sum()
    }
}

pub fn millis(d: time::Duration) -> f64 {
    d.as_seconds_f64() * 1000.0
}

/// The services named `names`, with their step rows (create steps that ran).
pub async fn load_services(db: &PgPool, names: &[String]) -> anyhow::Result<Vec<ServiceRun>> {
    type Row =
        (String, String, Option<String>, String, String, Option<OffsetDateTime>, Option<OffsetDateTime>);
    let rows: Vec<Row> = sqlx::query_as(
        "select s.name, s.status, s.error_message, st.step, st.status, st.started_at, st.finished_at
         from service s join step st on st.service_id = s.service_id
         where s.name = any($1) order by s.name",
    )
    .bind(names)
    .fetch_all(db)
    .await?;
    let mut services: Vec<ServiceRun> = Vec::new();
    for (name, status, error, step, step_status, started, finished) in rows {
        if services.last().is_none_or(|s| s.name != name) {
            services.push(ServiceRun { name: name.clone(), status, error, steps: Vec::new() });
        }
        if let (Some(step), Some(started), Some(finished)) = (StepName::parse(&step), started, finished) {
            let service = services.last_mut().expect("pushed above");
            service.steps.push(StepTiming { step, status: step_status, started, finished });
        }
    }
    Ok(services)
}

/// Mean, median and maximum of a sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub mean: f64,
    pub p50: f64,
    pub max: f64,
}

pub fn summarize(values: &[f64]) -> Summary {
    if values.is_empty() {
        return Summary::default();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let p50 =
        if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] };
    Summary { mean: sorted.iter().sum::<f64>() / sorted.len() as f64, p50, max: sorted[sorted.len() - 1] }
}

/// The longest chain through the create graph (`StepName::depends_on`) where each step costs
/// `cost(step)`: its total and the steps on it, first to last.
pub fn critical_path(cost: impl Fn(StepName) -> f64) -> (f64, Vec<StepName>) {
    fn finish(step: StepName, cost: &dyn Fn(StepName) -> f64) -> (f64, Vec<StepName>) {
        let (before, mut path) = shipyard::provision::steps::def(step)
            .depends_on
            .iter()
            .map(|&dep| finish(dep, cost))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or((0.0, Vec::new()));
        path.push(step);
        (before + cost(step), path)
    }
    shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create)
        .iter()
        .map(|&step| finish(step, &cost))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((0.0, Vec::new()))
}

/// What one step costs on average (over the services of a one-step-at-a-time batch).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepCost {
    pub step_ms: f64,
    pub github_calls: f64,
    pub aws_calls: f64,
    /// Sum of the durations of its AWS calls (moto round trips).
    pub aws_ms: f64,
}

/// Per-step means, attributing each call to the step row whose window holds it. Only exact when
/// one step runs at a time in the whole process; the calls no step window holds are counted apart.
pub struct Attribution {
    pub steps: HashMap<StepName, StepCost>,
    /// Calls per service by route (`GET /repos/acme/{name}`) or AWS operation, per step.
    pub calls: HashMap<StepName, BTreeMap<String, f64>>,
    pub unattributed_github: usize,
    pub unattributed_aws: usize,
}

pub fn attribute(services: &[ServiceRun], github: &[GithubCall], aws: &[AwsCall]) -> Attribution {
    let n = services.len().max(1) as f64;
    let mut steps: HashMap<StepName, StepCost> = HashMap::new();
    let mut calls: HashMap<StepName, BTreeMap<String, f64>> = HashMap::new();
    let owner = |at: OffsetDateTime| {
        services
            .iter()
            .find_map(|s| s.steps.iter().find(|t| t.contains(at)).map(|t| (s.name.as_str(), t.step)))
    };
    for timing in services.iter().flat_map(|s| &s.steps) {
        steps.entry(timing.step).or_default().step_ms += timing.millis() / n;
    }
    let mut unattributed_github = 0;
    for call in github {
        match owner(call.at) {
            Some((name, step)) => {
                steps.entry(step).or_default().github_calls += 1.0 / n;
                let route = format!("GitHub {} {}", call.method, route_of(&call.path, name));
                *calls.entry(step).or_default().entry(route).or_default() += 1.0 / n;
            }
            None => unattributed_github += 1,
        }
    }
    let mut unattributed_aws = 0;
    for call in aws {
        match owner(call.started) {
            Some((_, step)) => {
                let cost = steps.entry(step).or_default();
                cost.aws_calls += 1.0 / n;
                cost.aws_ms += call.millis() / n;
                *calls.entry(step).or_default().entry(format!("AWS {}", call.operation)).or_default() +=
                    1.0 / n;
            }
            None => unattributed_aws += 1,
        }
    }
    Attribution { steps, calls, unattributed_github, unattributed_aws }
}

/// A request path with the per-service parts replaced: the service's name, ids, secret names.
fn route_of(path: &str, service: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let route: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, seg)| match *seg {
            s if s.eq_ignore_ascii_case(service) => "{name}",
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => "{id}",
            s if i > 0 && segments[i - 1] == "secrets" && s != "public-key" => "{secret}",
            s => s,
        })
        .collect();
    route.join("/")
}

/// Mean duration of each step over a batch's services.
pub fn mean_step_ms(services: &[ServiceRun]) -> HashMap<StepName, f64> {
    let mut means: HashMap<StepName, f64> = HashMap::new();
    let n = services.len().max(1) as f64;
    for timing in services.iter().flat_map(|s| &s.steps) {
        *means.entry(timing.step).or_default() += timing.millis() / n;
    }
    means
}
