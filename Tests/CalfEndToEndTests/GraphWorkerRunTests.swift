import Foundation
import Testing

extension GraphEndToEnd {
    /// A graph's retries and its worker (an in-node reaction) through the real binary.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct GraphWorkerRunTests {
        typealias Project = GraphRunTests.Project

        /// A test that fails on its first run and passes when retried; a
        /// worker that keeps the health of both tasks from their outcomes.
        static let graph = """
            graph: dev
            debounce: 150
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: build
                shell: "echo build >> events"
                inputs: [sources]
              - job: test
                shell: "if [ -f passed-once ]; then echo pass >> events; else touch passed-once; echo fail >> events; echo 'Tests.swift:3: expected 4' >&2; exit 1; fi"
                dependsOn: [build]
                retry: { attempts: 1, backoff: { initial: 100, maximum: 100 } }
              - job: deploy
                shell: "echo deploy >> events"
                dependsOn: [test]
              - worker: health
                behavior: BuildHealth
                config: { window: 5 }
                dependsOn: { build: succeeded, test: completed }
            """

        @Test func aFailedTestIsRetriedOnceBeforeWhatDependsOnItAndTheWorkerSeesEveryOutcome() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: Self.graph)
                let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                #expect(try await project.lines(count: 4) == ["build", "fail", "pass", "deploy"], "the deploy did not wait for the retried test")

                // The worker's state: derived from the outcomes, journaled.
                var health = ""
                let deadline = Date().addingTimeInterval(15)
                while Date() < deadline {
                    health = try await runShell(project.data, ["state dev/health"]).1
                    if health.contains("\"streak\":1") && health.contains("\"failures\":1") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let state = try #require(try JSONSerialization.jsonObject(with: Data(health.utf8)) as? [String: [String: Any]], "\(health)")
                let test = try #require(state["test"], "\(health)")
                #expect(test["runs"] as? Int == 2 && test["failures"] as? Int == 1 && test["streak"] as? Int == 1, "\(test)")
                #expect((test["lastFailure"] as? String)?.contains("Tests.swift:3: expected 4") == true, "\(test)")
                #expect(state["build"]?["runs"] as? Int == 1)
                let (_, table, _) = try await runShell(project.data, ["graph"])
                #expect(table.contains("health") && table.contains("worker"), "\(table)")
                let (_, why, _) = try await runShell(project.data, ["why deploy"])
                #expect(why.contains("retry 1 of 1 after #1 failed"), "\(why)")
            }
        }
    }
}
