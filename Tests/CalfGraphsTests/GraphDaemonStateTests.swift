import Testing
@testable import CalfGraphs

/// The graph's planning of daemons (`GraphState`), without a node: when a
/// daemon starts, restarts on purpose, is kept up, restarted after a
/// crash or given up.
@Suite struct GraphDaemonStateTests {
    typealias Plan = GraphStateTests

    /// build → test → server (restarted when a build changed its outputs and the tests passed), and a db the migration waits for.
    static let service = """
        graph: dev
        parallel: 4
        watches:
          - watch: sources
            paths: [src/]
          - watch: config
            paths: [src/config]
        tasks:
          - job: build
            command: [sh, -c, "true"]
            inputs: [sources]
            outputs: [out/]
          - job: test
            command: [sh, -c, "true"]
            dependsOn: [build]
          - daemon: server
            command: [sh, -c, "sleep 100"]
            dependsOn:
              build: { condition: succeeded, cutoff: outputs }
              test: succeeded
            intensity: 2
            period: 60
            backoff: { initial: 100, maximum: 1000 }
          - daemon: db
            command: [sh, -c, "sleep 100"]
            inputs: [config]
            reload: SIGHUP
            ready: { delay: 10 }
          - job: migrate
            command: [sh, -c, "true"]
            dependsOn: { db: ready }
        """

    static func built(_ digest: String) -> RunOutcome {
        RunOutcome(status: .succeeded, exitCode: 0, startedAt: 0, endedAt: 10, outputsDigest: digest)
    }

    /// What `decisions` stop, as task names.
    static func cancelled(_ decisions: [GraphDecision]) -> [String] {
        decisions.compactMap { if case .cancel(let task, _, _) = $0 { task } else { nil } }
    }

    /// A started service: build, test, server up; db ready and migrate run.
    static func running() throws -> (GraphState, [String: UInt64], UInt64) {
        var state = GraphState()
        var next: UInt64 = 0
        var effects = Plan.carry(state.load(try Plan.spec(service), version: "v1", digests: ["sources": "a"], start: true), &state, next: &next)
        #expect(effects.keys.sorted() == ["build", "db"], "the server waits for its build and tests; the migration for its db")
        effects.merge(Plan.carry(state.ready("db", run: 1, at: 5), &state, next: &next)) { $1 }
        #expect(effects["migrate"] != nil, "the migration did not start once its db was ready")
        effects.merge(Plan.carry(state.finished(effect: effects["build"]!, outcome: built("d1")), &state, next: &next)) { $1 }
        #expect(effects["test"] != nil && state.tasks["server"]?.isRunning == false, "the server started before its tests passed")
        effects.merge(Plan.carry(state.finished(effect: effects["test"]!, outcome: Plan.outcome(.succeeded)), &state, next: &next)) { $1 }
        #expect(effects["server"] != nil)
        _ = state.ready("server", run: 1, at: 20)
        #expect(state.tasks["server"]?.isReady == true)
        return (state, effects, next)
    }

    @Test func anEditRestartsTheServerOnceAfterItsBuildAndItsTestsAndNotBefore() throws {
        var (state, effects, next) = try Self.running()
        let serverEffect = try #require(effects["server"])
        effects.merge(Plan.carry(state.changed(set: "sources", digest: "b", paths: ["/p/src/a.swift"]), &state, next: &next)) { $1 }
        #expect(state.tasks["server"]?.isReady == true, "the server went down when the build started")
        let afterBuild = state.finished(effect: effects["build"]!, outcome: Self.built("d2"))
        #expect(Self.cancelled(afterBuild).isEmpty, "the server restarted before its tests ran")
        effects.merge(Plan.carry(afterBuild, &state, next: &next)) { $1 }
        let afterTest = state.finished(effect: effects["test"]!, outcome: Plan.outcome(.succeeded))
        #expect(afterTest.contains(.cancel(task: "server", run: 1, effect: serverEffect)))
        #expect(Plan.started(afterTest) == ["server"])
        let restart = try #require(state.tasks["server"])
        #expect(restart.runs.first?.status == .cancelled && restart.runs.first?.outcome?.note?.hasPrefix("restarted") == true)
        #expect(restart.lastRun?.causes == ["after build #2", "after test #2"])
        #expect(restart.crashes.isEmpty, "an intentional restart counted as a crash")
    }

    @Test func aFailingBuildKeepsTheLastGoodServerUpAndAnUnchangedRebuildDoesNotRestartIt() throws {
        var (state, effects, next) = try Self.running()
        effects.merge(Plan.carry(state.changed(set: "sources", digest: "b", paths: []), &state, next: &next)) { $1 }
        let failed = state.finished(effect: effects["build"]!, outcome: Plan.outcome(.failed))
        #expect(Self.cancelled(failed).isEmpty && Plan.started(failed).isEmpty, "\(failed)")
        #expect(state.tasks["server"]?.isReady == true, "the last good server was stopped by a failed build")
        #expect(state.tasks["server"]?.blockedBy == "build #2 failed")
        // Fixed, and the build wrote the same outputs: the tests re-run, and the server only waits for them.
        effects.merge(Plan.carry(state.changed(set: "sources", digest: "c", paths: []), &state, next: &next)) { $1 }
        effects.merge(Plan.carry(state.finished(effect: effects["build"]!, outcome: Self.built("d1")), &state, next: &next)) { $1 }
        #expect(state.tasks["server"]?.wanted == nil && state.tasks["server"]?.blockedBy == nil, "cutoff: the server's build outputs did not change")
        let afterTest = state.finished(effect: effects["test"]!, outcome: Plan.outcome(.succeeded))
        #expect(Plan.started(afterTest) == ["server"], "its tests passed again (its other upstream, without a cutoff): one restart")
    }

    @Test func aCrashRestartsAfterItsBackoffAndPastItsIntensityTheDaemonIsGivenUp() throws {
        var (state, effects, next) = try Self.running()
        state.now = 1000
        var crashes: [GraphDecision] = []
        for attempt in 1...3 {
            crashes = state.finished(effect: effects["server"]!, outcome: RunOutcome(status: .failed, exitCode: 3, startedAt: 0, endedAt: 1000 + Int64(attempt)))
            guard case .wake(let task, let token, let delay)? = crashes.first else { break }
            #expect(task == "server" && delay == 100 << (attempt - 1), "backoff doubles: \(crashes)")
            #expect(Plan.started(state.wake("server", token: token + 1)).isEmpty, "a stale token restarted it")
            let restarted = state.wake("server", token: token)
            #expect(Plan.started(restarted) == ["server"])
            #expect(state.tasks["server"]?.lastRun?.causes == ["restart after #\(attempt) ended (exit 3)"])
            effects.merge(Plan.carry(restarted, &state, next: &next)) { $1 }
        }
        #expect(crashes.isEmpty, "it was restarted past its intensity (2 in 60 s)")
        #expect(state.tasks["server"]?.gaveUp?.contains("3 times within 60 s") == true, "\(String(describing: state.tasks["server"]?.gaveUp))")
        // The next success of what it depends on arms it again.
        effects.merge(Plan.carry(state.changed(set: "sources", digest: "z", paths: []), &state, next: &next)) { $1 }
        effects.merge(Plan.carry(state.finished(effect: effects["build"]!, outcome: Self.built("d9")), &state, next: &next)) { $1 }
        #expect(Plan.started(state.finished(effect: effects["test"]!, outcome: Plan.outcome(.succeeded))) == ["server"])
        #expect(state.tasks["server"]?.gaveUp == nil && state.tasks["server"]?.crashes.isEmpty == true)
    }

    @Test func aReloadSignalsTheDaemonInsteadOfRestartingIt() throws {
        var (state, _, _) = try Self.running()
        let decisions = state.changed(set: "config", digest: "c2", paths: ["/p/src/config"])
        #expect(decisions == [.signal(task: "db", run: 1, signal: "SIGHUP")])
        #expect(state.tasks["db"]?.isReady == true)
    }

    @Test func aStartAfterACrashStartsDaemonsAgainAndTheirLeftoverRunEndsInterrupted() throws {
        var (state, effects, next) = try Self.running()
        let spec = try #require(state.spec)
        let oldServer = try #require(effects["server"])
        let oldMigrate = try #require(effects["migrate"])
        let restarted = state.load(spec, version: "v1", digests: ["sources": "a"], start: true)
        #expect(Plan.started(restarted).sorted() == ["db", "server"], "\(restarted)")
        #expect(state.tasks["server"]?.leftover == LeftoverRun(effect: oldServer, run: 1))
        effects.merge(Plan.carry(restarted, &state, next: &next)) { $1 }
        #expect(state.finished(effect: oldServer, outcome: Plan.outcome(.interrupted)).isEmpty)
        let server = try #require(state.tasks["server"])
        #expect(server.leftover == nil && server.runs.first?.status == .interrupted && server.lastRun?.number == 2 && server.isRunning)
        #expect(server.crashes.isEmpty, "a run the node's stop ended counted as a crash")
        // The migration that never ended runs again once the new db is ready, not before.
        #expect(Plan.started(state.finished(effect: oldMigrate, outcome: Plan.outcome(.interrupted))).isEmpty)
        #expect(Plan.started(state.ready("db", run: 2, at: 50)) == ["migrate"])
    }

    @Test func aCascadeOnReadyReRunsItsDependentWhenTheDaemonIsReadyAgain() throws {
        var state = GraphState()
        var next: UInt64 = 0
        _ = state.load(try Plan.spec("""
            graph: dev
            tasks:
              - daemon: db
                command: [sh, -c, "sleep 100"]
              - job: seed
                command: [sh, -c, "true"]
                dependsOn: { db: { condition: ready, cascade: true } }
            """), version: "v1", digests: [:], start: false)
        var effects = Plan.carry(state.load(state.spec!, version: "v1", digests: [:], start: true), &state, next: &next)
        #expect(effects.keys.sorted() == ["db"])
        effects.merge(Plan.carry(state.ready("db", run: 1, at: 1), &state, next: &next)) { $1 }
        #expect(effects["seed"] != nil, "the first time up lets it go by its gate")
        _ = state.finished(effect: effects["seed"]!, outcome: Plan.outcome(.succeeded))
        // The db restarted (asked for by hand): once ready again, the seed runs again.
        effects.merge(Plan.carry(state.manual("db", by: "test") ?? [], &state, next: &next)) { $1 }
        #expect(Plan.started(state.ready("db", run: 2, at: 2)) == ["seed"])
        #expect(state.tasks["seed"]?.lastRun?.causes == ["after db #2 ready"])
    }
}

