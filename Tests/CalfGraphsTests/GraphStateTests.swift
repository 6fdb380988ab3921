import Foundation
import Testing
@testable import CalfGraphs

/// The graph's planning (`GraphState`), without a node: what a change, a
/// run's end or a start decides.
@Suite struct GraphStateTests {
    /// `text` read as a graph file in a fresh directory (`sh` is the only program it names).
    static func spec(_ text: String, behaviors: Set<String> = []) throws -> GraphSpec {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-plan-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try GraphFile(path: root + "/dev.yaml", text: text, behaviors: behaviors, searchPath: "/usr/bin:/bin").spec
    }

    static let diamond = """
        graph: dev
        parallel: 4
        watches:
          - watch: sources
            paths: [src/]
        tasks:
          - job: build
            command: [sh, -c, "true"]
            inputs: [sources]
          - job: test
            command: [sh, -c, "true"]
            dependsOn: [build]
          - job: migrate
            command: [sh, -c, "true"]
            dependsOn: [build]
          - job: server
            command: [sh, -c, "true"]
            dependsOn: [test, migrate]
        """

    /// The tasks `decisions` start, in order.
    static func started(_ decisions: [GraphDecision]) -> [String] {
        decisions.compactMap { if case .start(let task, _) = $0 { task } else { nil } }
    }

    /// Marks each start as carried by an effect numbered from `next` (what the handler does).
    static func carry(_ decisions: [GraphDecision], _ state: inout GraphState, next: inout UInt64) -> [String: UInt64] {
        var effects: [String: UInt64] = [:]
        for case .start(let task, let run) in decisions {
            next += 1
            state.started(task, run: run, effect: next, startedAt: 0, logPath: "")
            effects[task] = next
        }
        return effects
    }

    static func outcome(_ status: RunStatus) -> RunOutcome {
        RunOutcome(status: status, exitCode: status == .succeeded ? 0 : 1, startedAt: 0, endedAt: 10)
    }

    @Test func aDiamondRunsItsBottomOnceAfterBothSidesWithBothCauses() throws {
        var state = GraphState()
        var next: UInt64 = 0
        #expect(Self.started(state.load(try Self.spec(Self.diamond), version: "v1", digests: ["sources": "a"], start: false)).isEmpty,
                "a reload of a graph that never ran started something")
        var effects = Self.carry(state.changed(set: "sources", digest: "b", paths: ["/p/src/a.swift"]), &state, next: &next)
        #expect(Array(effects.keys) == ["build"])
        let sides = state.finished(effect: effects["build"]!, outcome: Self.outcome(.succeeded))
        #expect(Self.started(sides).sorted() == ["migrate", "test"], "both sides start after the build, the bottom waits")
        effects = Self.carry(sides, &state, next: &next)
        #expect(Self.started(state.finished(effect: effects["test"]!, outcome: Self.outcome(.succeeded))).isEmpty,
                "the bottom started before its other upstream ended")
        let bottom = state.finished(effect: effects["migrate"]!, outcome: Self.outcome(.succeeded))
        #expect(Self.started(bottom) == ["server"])
        _ = Self.carry(bottom, &state, next: &next)
        let run = try #require(state.tasks["server"]?.lastRun)
        #expect(run.causes == ["after test #1", "after migrate #1"])
        #expect(state.tasks["server"]?.runCount == 1)
    }

    @Test func aFailedBuildBlocksWhatNeedsItsSuccessAndTheNextSuccessUnblocksIt() throws {
        var state = GraphState()
        var next: UInt64 = 0
        _ = state.load(try Self.spec(Self.diamond), version: "v1", digests: [:], start: false)
        var effects = Self.carry(state.changed(set: "sources", digest: "b", paths: []), &state, next: &next)
        #expect(Self.started(state.finished(effect: effects["build"]!, outcome: Self.outcome(.failed))).isEmpty)
        #expect(state.tasks["test"]?.blockedBy == "build #1 failed")
        #expect(state.tasks["server"]?.blockedBy == "test is blocked")
        #expect(state.tasks["test"]?.runCount == 0)
        // A test file's change alone does not run it while its build is failed.
        effects = Self.carry(state.changed(set: "sources", digest: "c", paths: []), &state, next: &next)
        #expect(Self.started(state.finished(effect: effects["build"]!, outcome: Self.outcome(.succeeded))).sorted() == ["migrate", "test"])
        #expect(state.tasks["test"]?.blockedBy == nil)
    }

    @Test func changesWhileABuildRunsQueueOneMoreRunWithAllTheirCauses() throws {
        var state = GraphState()
        var next: UInt64 = 0
        _ = state.load(try Self.spec(Self.diamond), version: "v1", digests: [:], start: false)
        let effects = Self.carry(state.changed(set: "sources", digest: "b", paths: ["/src/a"]), &state, next: &next)
        for (n, path) in ["/src/b", "/src/c", "/src/b"].enumerated() {
            #expect(Self.started(state.changed(set: "sources", digest: "c\(n)", paths: [path])).isEmpty, "a busy job started again")
        }
        #expect(state.tasks["build"]?.wanted == ["change sources: b", "change sources: c"])
        let after = state.finished(effect: effects["build"]!, outcome: Self.outcome(.succeeded))
        #expect(Self.started(after).sorted() == ["build"], "the queued build runs before what depends on the first one")
        #expect(state.tasks["build"]?.runCount == 2)
    }

    @Test func onBusyRestartStopsTheRunningRunAndIgnoreDropsTheChange() throws {
        var state = GraphState()
        var next: UInt64 = 0
        _ = state.load(try Self.spec("""
            graph: dev
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: test
                command: [sh, -c, "true"]
                inputs: [sources]
                onBusy: restart
              - job: docs
                command: [sh, -c, "true"]
                inputs: [sources]
                onBusy: ignore
                lock: l
            """), version: "v1", digests: [:], start: false)
        let effects = Self.carry(state.changed(set: "sources", digest: "b", paths: []), &state, next: &next)
        #expect(Set(effects.keys) == ["test", "docs"] || Set(effects.keys) == ["test"], "\(effects)")
        let again = state.changed(set: "sources", digest: "c", paths: [])
        #expect(again.contains(.cancel(task: "test", run: 1, effect: effects["test"]!)), "\(again)")
        #expect(state.tasks["test"]?.runs.first?.status == .cancelled)
    }

    @Test func aStartRunsOnlyWhatIsStale() throws {
        let spec = try Self.spec(Self.diamond)
        var state = GraphState()
        var next: UInt64 = 0
        // Never run: all stale, but the first start runs only what can run (the build), the rest follow it.
        var effects = Self.carry(state.load(spec, version: "v1", digests: ["sources": "a"], start: true), &state, next: &next)
        #expect(Array(effects.keys) == ["build"])
        effects = Self.carry(state.finished(effect: effects["build"]!, outcome: Self.outcome(.succeeded)), &state, next: &next)
        effects.merge(Self.carry(state.finished(effect: effects["test"]!, outcome: Self.outcome(.succeeded)), &state, next: &next)) { $1 }
        effects.merge(Self.carry(state.finished(effect: effects["migrate"]!, outcome: Self.outcome(.succeeded)), &state, next: &next)) { $1 }
        _ = state.finished(effect: effects["server"]!, outcome: Self.outcome(.succeeded))
        #expect(state.tasks.values.allSatisfy { $0.runCount == 1 })
        // A start with nothing changed runs nothing; with the sources changed while down, the build (then its cascade).
        #expect(Self.started(state.load(spec, version: "v1", digests: ["sources": "a"], start: true)).isEmpty)
        let restarted = state.load(spec, version: "v1", digests: ["sources": "z"], start: true)
        #expect(Self.started(restarted) == ["build"])
        #expect(state.tasks["build"]?.lastRun?.causes == ["start (sources changed)"])
    }

    @Test func anInterruptedRunLeavesItsTaskStaleAtTheNextStart() throws {
        let spec = try Self.spec(Self.diamond)
        var state = GraphState()
        var next: UInt64 = 0
        let effects = Self.carry(state.load(spec, version: "v1", digests: ["sources": "a"], start: true), &state, next: &next)
        _ = state.finished(effect: effects["build"]!, outcome: Self.outcome(.interrupted))
        #expect(state.tasks["test"]?.blockedBy == "build #1 interrupted")
        let restarted = state.load(spec, version: "v1", digests: ["sources": "a"], start: true)
        #expect(Self.started(restarted) == ["build"])
        #expect(state.tasks["build"]?.lastRun?.causes == ["start (run #1 interrupted)"])
    }
}
