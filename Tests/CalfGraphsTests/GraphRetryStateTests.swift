import Testing
@testable import CalfGraphs

/// A failed job's retries and a worker's outcomes, planned without a node.
@Suite struct GraphRetryStateTests {
    typealias Plan = GraphStateTests

    static let graph = """
        graph: dev
        parallel: 2
        watches:
          - watch: sources
            paths: [src/]
        tasks:
          - job: build
            command: [sh, -c, "true"]
            inputs: [sources]
            retry: { attempts: 2, backoff: { initial: 100, maximum: 150 } }
          - job: test
            command: [sh, -c, "true"]
            dependsOn: [build]
          - worker: health
            behavior: BuildHealth
            dependsOn: { build: completed }
        """

    static func spec() throws -> GraphSpec {
        try Plan.spec(graph, behaviors: ["BuildHealth"])
    }

    /// The outcomes `decisions` send to workers, as (worker, task, run, status).
    static func delivered(_ decisions: [GraphDecision]) -> [String] {
        decisions.compactMap { if case .deliver(let worker, let outcome) = $0 { "\(worker) \(outcome.task) #\(outcome.run) \(outcome.status.rawValue)" } else { nil } }
    }

    @Test func aFailedJobIsRetriedAfterItsBackoffAndWhatDependsOnItWaitsThenIsBlockedWhenRetriesRunOut() throws {
        var state = GraphState()
        var next: UInt64 = 0
        var effects = Plan.carry(state.load(try Self.spec(), version: "v1", digests: ["sources": "a"], start: true), &state, next: &next)
        var delays: [Int] = []
        for attempt in 1...2 {
            let failed = state.finished(effect: effects["build"]!, outcome: Plan.outcome(.failed))
            #expect(Self.delivered(failed) == ["health build #\(attempt) failed"], "every run's outcome goes to the worker")
            guard case .wake(_, let token, let delay)? = failed.first(where: { if case .wake = $0 { true } else { false } }) else {
                Issue.record("no retry after failure \(attempt): \(failed)")
                return
            }
            delays.append(delay)
            #expect(state.tasks["test"]?.blockedBy == nil, "the test was blocked while its build was to be retried")
            #expect(state.report()?.tasks.first { $0.name == "build" }?.status == "retrying")
            let retried = state.wake("build", token: token)
            #expect(Plan.started(retried) == ["build"])
            #expect(state.tasks["build"]?.lastRun?.causes == ["retry \(attempt) of 2 after #\(attempt) failed (exit 1)"])
            effects = Plan.carry(retried, &state, next: &next)
        }
        #expect(delays == [100, 150], "the backoff doubles up to its maximum")
        let last = state.finished(effect: effects["build"]!, outcome: Plan.outcome(.failed))
        #expect(!last.contains { if case .wake = $0 { true } else { false } }, "retried past its attempts")
        #expect(state.tasks["test"]?.blockedBy == "build #3 failed")
        // A change runs it again, its retries afresh; a success resets them and sends the worker its outcome.
        effects = Plan.carry(state.changed(set: "sources", digest: "b", paths: []), &state, next: &next)
        let passed = state.finished(effect: effects["build"]!, outcome: Plan.outcome(.succeeded))
        #expect(Self.delivered(passed) == ["health build #4 succeeded"] && Plan.started(passed) == ["test"])
        #expect(state.tasks["build"]?.retries == 0 && state.tasks["health"]?.runCount == 4)
    }
}
