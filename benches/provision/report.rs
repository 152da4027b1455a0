//! The printed report: per-step costs, critical path, wall time per service by mode, savings.

use shipyard::domain::StepName;

use crate::{
    Args,
    batch::Batch,
    measure::{Attribution, ServiceRun, StepCost, critical_path, mean_step_ms, summarize},
};

/// The batches of one run, in the order they ran.
pub struct Report<'a> {
    pub args: &'a Args,
    pub database: &'a str,
    pub serial: Batch,
    pub parallel: Batch,
    pub concurrent: Batch,
    pub concurrent_serial: Batch,
    /// Calls attributed to the steps of the serial batch (one step at a time, so exact).
    pub attribution: Attribution,
}

pub fn print(r: &Report<'_>) {
    let latency_ms = r.args.latency.as_secs_f64() * 1000.0;
    let build = if cfg!(debug_assertions) { "debug build" } else { "optimized build" };
    let mut moto = std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    if !r.args.aws_latency.is_zero() {
        moto.push_str(&format!(" with {} ms injected before every AWS call", r.args.aws_latency.as_millis()));
    }
    println!();
    println!("Shipyard provisioning benchmark ({build})");
    println!(
        "  {} services per batch × {} round(s); {latency_ms:.0} ms injected before every GitHub call (github-sim \
         in-process); AWS = moto at {moto}",
        r.args.services, r.args.rounds
    );
    println!("  database {} (dropped at the end); RetryPolicy::fast(), no IAM propagation wait", r.database);

    let cost = |step: StepName| r.attribution.steps.get(&step).copied().unwrap_or_default();
    print_steps(r, latency_ms, &cost);

    let sum_ms: f64 = shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create)
        .iter()
        .map(|&s| cost(s).step_ms)
        .sum();
    let (cp_ms, path) = critical_path(|s| cost(s).step_ms);
    let (cp_gh_ms, _) = critical_path(|s| cost(s).github_calls * latency_ms);
    let sum_gh_ms: f64 = shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create)
        .iter()
        .map(|&s| cost(s).github_calls * latency_ms)
        .sum();
    let aws_on_path: f64 = path.iter().map(|&s| cost(s).aws_ms).sum();
    let aws_off_path: f64 = shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create)
        .iter()
        .filter(|s| !path.contains(s))
        .map(|&s| cost(s).aws_ms)
        .sum();
    println!();
    println!("Critical path (longest chain of dependent steps, costs from the serial batch)");
    let names: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
    println!("  {}", names.join(" → "));
    println!(
        "  measured step durations: {cp_ms:.0} ms on the path of {sum_ms:.0} ms in all steps: independent steps \
         can save at most {:.0} ms ({:.1} %)",
        sum_ms - cp_ms,
        pct(sum_ms - cp_ms, sum_ms)
    );
    println!(
        "  GitHub calls × {latency_ms:.0} ms:   {cp_gh_ms:.0} ms on the path of {sum_gh_ms:.0} ms (off the path: \
         {:.0} ms of GitHub, {aws_off_path:.0} ms of AWS; AWS on the path: {aws_on_path:.0} ms)",
        sum_gh_ms - cp_gh_ms
    );

    print_modes(r);
    print_savings(r, latency_ms, sum_ms, cp_ms);
}

fn print_steps(r: &Report<'_>, latency_ms: f64, cost: &dyn Fn(StepName) -> StepCost) {
    let parallel = mean_step_ms(&r.parallel.services);
    let concurrent = mean_step_ms(&r.concurrent.services);
    println!();
    println!(
        "Per step, one step at a time (serial batch, mean of {} services; calls attributed by step-row time window)",
        r.serial.services.len()
    );
    println!(
        "  {:<18} {:<50} {:>6} {:>9} {:>6} {:>7} {:>8} {:>8} {:>8}",
        "step", "depends on", "GitHub", "GitHub ms", "AWS", "AWS ms", "step ms", "step ms", "step ms"
    );
    println!(
        "  {:<18} {:<50} {:>6} {:>9} {:>6} {:>7} {:>8} {:>8} {:>8}",
        "",
        "",
        "calls",
        "(× lat.)",
        "calls",
        "(sum)",
        "serial",
        "parallel",
        format!("conc. {}", r.concurrent.mode.concurrency)
    );
    let mut total = StepCost::default();
    let (mut total_parallel, mut total_concurrent) = (0.0, 0.0);
    for &step in shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create) {
        let c = cost(step);
        let deps: Vec<&str> =
            shipyard::provision::steps::def(step).depends_on.iter().map(|d| d.as_str()).collect();
        let deps = if deps.is_empty() { "-".to_owned() } else { deps.join(", ") };
        let (p, k) =
            (parallel.get(&step).copied().unwrap_or(0.0), concurrent.get(&step).copied().unwrap_or(0.0));
        println!(
            "  {:<18} {:<50} {:>6.1} {:>9.0} {:>6.1} {:>7.1} {:>8.1} {:>8.1} {:>8.1}",
            step.as_str(),
            deps,
            c.github_calls,
            c.github_calls * latency_ms,
            c.aws_calls,
            c.aws_ms,
            c.step_ms,
            p,
            k
        );
        total.github_calls += c.github_calls;
        total.aws_calls += c.aws_calls;
        total.aws_ms += c.aws_ms;
        total.step_ms += c.step_ms;
        total_parallel += p;
        total_concurrent += k;
    }
    println!(
        "  {:<18} {:<50} {:>6.1} {:>9.0} {:>6.1} {:>7.1} {:>8.1} {:>8.1} {:>8.1}",
        "all steps",
        "",
        total.github_calls,
        total.github_calls * latency_ms,
        total.aws_calls,
        total.aws_ms,
        total.step_ms,
        total_parallel,
        total_concurrent
    );
    let rest = total.step_ms - total.github_calls * latency_ms - total.aws_ms;
    println!("  rest of the serial step time (clients, sim handlers, sealing secrets): {rest:.0} ms");
    let (gh, aws) = (r.attribution.unattributed_github, r.attribution.unattributed_aws);
    if gh + aws > 0 {
        println!("  calls outside any step window: {gh} GitHub, {aws} AWS (whole batch)");
    }
    println!();
    println!("Calls per service by step (serial batch; routes with the service name as {{name}})");
    for &step in shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create) {
        let Some(calls) = r.attribution.calls.get(&step) else { continue };
        let list: Vec<String> = calls.iter().map(|(call, n)| format!("{call} ×{n:.1}")).collect();
        println!("  {:<18} {}", step.as_str(), list.join(", "));
    }
}

fn print_modes(r: &Report<'_>) {
    println!();
    println!("Wall time per service: min(started_at) → max(finished_at) of its step rows");
    println!(
        "  {:<9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "steps",
        "services",
        "mean ms",
        "p50 ms",
        "max ms",
        "active s",
        "svc/min",
        "GitHub",
        "AWS",
        "own CP ms"
    );
    println!(
        "  {:<9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "", "at once", "", "", "", "", "", "calls/svc", "calls/svc", "(mean)"
    );
    for batch in [&r.serial, &r.parallel, &r.concurrent, &r.concurrent_serial] {
        let wall = summarize(&batch.wall_ms());
        let own_cp =
            summarize(&batch.services.iter().map(ServiceRun::own_critical_path_ms).collect::<Vec<_>>());
        println!(
            "  {:<9} {:>9} {:>8.0} {:>8.0} {:>8.0} {:>8.2} {:>9.1} {:>9.1} {:>9.1} {:>10.0}",
            if batch.mode.parallel_steps { "parallel" } else { "serial" },
            batch.mode.concurrency,
            wall.mean,
            wall.p50,
            wall.max,
            batch.active_ms / 1000.0,
            batch.services_per_minute(),
            batch.per_service(batch.github_requests),
            batch.per_service(batch.aws_calls.len()),
            own_cp.mean,
        );
        if batch.github_requests != batch.github_calls.len() {
            println!(
                "    (github-sim counted {} requests, its request log has {} in the batch window)",
                batch.github_requests,
                batch.github_calls.len()
            );
        }
    }
    println!("  own CP: the critical path through that service's own measured step durations");
    for batch in [&r.serial, &r.parallel, &r.concurrent, &r.concurrent_serial] {
        let not_done: Vec<String> = batch
            .services
            .iter()
            .flat_map(|s| {
                s.steps.iter().filter(|t| t.status != "done").map(move |t| format!("{} {}", s.name, t.step))
            })
            .collect();
        if !not_done.is_empty() {
            println!("  note: step rows not done (best effort): {}", not_done.join(", "));
        }
    }
    if std::env::var_os("BENCH_DETAIL").is_some() {
        print_details(r);
    }
}

/// `BENCH_DETAIL=1`: every service's wall and its slowest step, to explain outliers.
fn print_details(r: &Report<'_>) {
    for batch in [&r.serial, &r.parallel, &r.concurrent, &r.concurrent_serial] {
        let mode = if batch.mode.parallel_steps { "parallel" } else { "serial" };
        println!("  {mode} steps, {} at once:", batch.mode.concurrency);
        for service in &batch.services {
            let slowest = service.steps.iter().max_by(|a, b| a.millis().total_cmp(&b.millis()));
            let slowest = slowest.map(|t| format!("{} {:.0} ms", t.step, t.millis())).unwrap_or_default();
            println!("    {:<24} {:>6.0} ms  slowest step: {slowest}", service.name, service.wall_ms());
        }
    }
}

fn print_savings(r: &Report<'_>, latency_ms: f64, sum_ms: f64, cp_ms: f64) {
    let serial = summarize(&r.serial.wall_ms());
    let parallel = summarize(&r.parallel.wall_ms());
    let serial_gaps =
        summarize(&r.serial.services.iter().map(|s| s.wall_ms() - s.step_sum_ms()).collect::<Vec<_>>());
    let parallel_gaps = summarize(
        &r.parallel.services.iter().map(|s| s.wall_ms() - s.own_critical_path_ms()).collect::<Vec<_>>(),
    );
    let saved = serial.mean - parallel.mean;
    println!();
    println!("Concurrency across independent steps (one service at a time)");
    println!(
        "  measured:  {:.0} ms → {:.0} ms mean wall per service: {saved:.0} ms saved ({:.1} %)",
        serial.mean,
        parallel.mean,
        pct(saved, serial.mean)
    );
    println!(
        "  predicted: all steps {sum_ms:.0} ms → critical path {cp_ms:.0} ms: {:.0} ms ({:.1} %)",
        sum_ms - cp_ms,
        pct(sum_ms - cp_ms, sum_ms)
    );
    println!(
        "  between steps (recording results, claiming the next step): {:.0} ms per service serial \
         (wall − sum of steps), {:.0} ms parallel (wall − own critical path)",
        serial_gaps.mean, parallel_gaps.mean
    );
    let one_at_a_time = r.parallel.services_per_minute();
    println!();
    println!("Concurrency across services (Settings.concurrency = {})", r.concurrent.mode.concurrency);
    println!(
        "  {:.1} services/min vs {one_at_a_time:.1} one at a time (×{:.1}); mean wall per service {:.0} ms \
         (vs {:.0} ms alone)",
        r.concurrent.services_per_minute(),
        r.concurrent.services_per_minute() / one_at_a_time,
        summarize(&r.concurrent.wall_ms()).mean,
        parallel.mean
    );

    println!();
    println!("Summary");
    println!(
        "  {:>8} {:>8} {:>22} {:>22} {:>9} {:>9} {:>9} {:>9}",
        "services",
        "latency",
        "serial mean/p50/max",
        "parallel mean/p50/max",
        "crit.path",
        "saving",
        "saving",
        "svc/min"
    );
    println!(
        "  {:>8} {:>8} {:>22} {:>22} {:>9} {:>9} {:>9} {:>9}",
        "",
        "",
        "ms per service",
        "ms per service",
        "ms",
        "measured",
        "predicted",
        format!("conc. {}", r.concurrent.mode.concurrency)
    );
    println!(
        "  {:>8} {:>8} {:>22} {:>22} {:>9.0} {:>8.1}% {:>8.1}% {:>9.1}",
        r.args.services,
        format!("{latency_ms:.0} ms"),
        format!("{:.0}/{:.0}/{:.0}", serial.mean, serial.p50, serial.max),
        format!("{:.0}/{:.0}/{:.0}", parallel.mean, parallel.p50, parallel.max),
        cp_ms,
        pct(saved, serial.mean),
        pct(sum_ms - cp_ms, sum_ms),
        r.concurrent.services_per_minute()
    );
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { 100.0 * part / whole } else { 0.0 }
}
