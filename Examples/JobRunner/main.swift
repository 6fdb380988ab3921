import Calf
import Foundation

// JobRunner: a supervised pool that runs jobs as ports (external commands),
// retrying a failed job with exponential backoff, up to a number of attempts.
// Run: swift run JobRunner

/// A job: a name and a shell script. It succeeds when the script exits 0.
struct Job: Sendable {
    let name: String
    let script: String
}

/// Collects what the jobs print (the owner of every port).
struct Reporter: Behavior {
    enum Message: Sendable {
        case output(PortOutput)
        case lines
    }

    final class State { var lines: [String] = [] }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .output(.line(_, let text)):
            print("  \(text)")
            state.lines.append(text)
        case .output(.frame):
            break
        case .lines:
            context.reply(state.lines)
        }
    }
}

/// Each attempt counts itself in a file per job and prints "NAME attempt N";
/// a job that exits 0 prints "NAME succeeded".
let counter = #"n=$(( $(cat "$STATE/$JOB" 2>/dev/null || echo 0) + 1 )); echo $n > "$STATE/$JOB"; echo "$JOB attempt $n""#
let jobs = [
    Job(name: "hello", script: "echo 'hello from a port'"),
    Job(name: "slow", script: "sleep 0.3"),
    Job(name: "flaky", script: "[ $n -ge 3 ] || { echo 'flaky failed' >&2; exit 1; }"), // fails twice, then works
    Job(name: "broken", script: "exit 2"), // always fails: given up after the last attempt
].map { Job(name: $0.name, script: "\(counter); { \($0.script); } && echo \"$JOB succeeded\"") }
/// Attempts per job; the supervisor's intensity guards the pool as a whole.
let maximumAttempts = 4

let state = FileManager.default.temporaryDirectory.appendingPathComponent("jobrunner-\(UUID().uuidString.prefix(8))").path
try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: state) }

func attempts(_ name: String) -> Int {
    let text = (try? String(contentsOfFile: "\(state)/\(name)", encoding: .utf8)) ?? "0"
    return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

let node = try Node(schedulers: 2)
let reporter = try await node.spawn(Reporter())

// A job is a transient child of a simpleOneForOne pool: restarted after a
// failure (exit status not 0), dropped once it exits 0. Backoff spaces the
// retries (100 ms, 200 ms, 400 ms...); a job out of attempts is not started
// again (`ignore` drops a dynamic child).
let template = ChildSpec(
    id: "job", restart: .transient, shutdown: .timeout(.seconds(2)),
    backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(2)), behavior: "Port"
) { context in
    let job = try context.arguments(as: Job.self)
    if attempts(job.name) >= maximumAttempts { return .ignore }
    let port = PortSpec(
        command: ["/bin/sh", "-c", job.script], environment: ["JOB": job.name, "STATE": state],
        owner: .address(reporter) { .output($0) }, killAfter: .seconds(1))
    return .started(ChildProcess(try context.spawn(Port(port))))
}
let pool = try await node.startSupervisor(SupervisorSpec("jobs", strategy: .simpleOneForOne, intensity: 20, period: .seconds(10), children: [template]))

print("running \(jobs.count) jobs, at most \(maximumAttempts) attempts each")
for job in jobs { _ = try await pool.startChild(with: job) }

// Every job ends: it succeeded, or it ran out of attempts.
while try await pool.countChildren().specs > 0 { try await Task.sleep(for: .milliseconds(20)) }

let lines: [String] = try await node.call(reporter, .lines)
for job in jobs {
    let outcome = lines.contains("\(job.name) succeeded") ? "succeeded" : "given up"
    print("\(job.name): \(outcome) after \(attempts(job.name)) attempt(s)")
}
try await node.shutdown()
