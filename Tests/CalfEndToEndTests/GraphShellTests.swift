import Foundation
import Testing

extension GraphEndToEnd {
    /// The shell's graph commands against a real node running a graph:
    /// `graph` (and `--json`, `--at`), `runs`, `log`, `why`, `run`, `cancel`,
    /// `graph pause` and `resume`.
    @Suite(.serialized, .timeLimit(.minutes(4))) struct GraphShellTests {
        typealias Project = GraphRunTests.Project

        static let graph = """
            graph: dev
            debounce: 150
            parallel: 2
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: build
                shell: "echo compiling $(cat src/a.txt); echo build >> events"
                inputs: [sources]
              - job: test
                shell: "echo test >> events"
                dependsOn: [build]
              - job: docs
                shell: "echo docs >> events"
                auto: false
                onStart: never
              - job: slow
                shell: "echo slow >> events; sleep 30"
                onStart: never
                killAfter: 500
            """

        func shell(_ project: Project, _ command: String, json: Bool = false, status expected: Int32 = 0) async throws -> String {
            let (status, out, err) = try await runCalf(["shell", "--data", project.data] + (json ? ["--json"] : []) + ["-c", command])
            #expect(status == expected, "\(command): \(out) \(err)")
            return status == 0 ? out : err
        }

        /// `graph --json`'s tasks by name.
        func tasks(_ project: Project, at seq: UInt64? = nil) async throws -> [String: [String: Any]] {
            let text = try await shell(project, "graph" + (seq.map { " --at \($0)" } ?? ""), json: true)
            let list = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "\(text)")
            return Dictionary(list.map { ($0["name"] as? String ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
        }

        /// Waits until `graph --json` shows `task` with `runs` runs, its last one ended.
        func settled(_ project: Project, _ task: String, runs: Int) async throws -> [String: Any] {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if let entry = try await tasks(project)[task], entry["runs"] as? Int == runs,
                   let last = entry["lastRun"] as? [String: Any], last["status"] as? String != "running" { return entry }
                try await Task.sleep(for: .milliseconds(100))
            }
            let seen: [String: Any] = try await tasks(project)[task] ?? [:]
            let text = String(describing: seen)
            #expect(Bool(false), "\(task) never had \(runs) ended runs: \(text)")
            return [:]
        }

        @Test func theGraphItsRunsLogsAndCausesAndManualRunsPausesAndCancels() async throws {
            try await withTemporaryDataDirectory { dir in try await scenario(dir) }
        }

        func scenario(_ dir: String) async throws {
            let project = try Project(in: dir, graph: Self.graph)
            let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
            defer { _ = node.stop() }
            _ = try await settled(project, "test", runs: 1)

            // graph --json: every task with its kind, status, runs and last run.
            let listed = try await tasks(project)
            #expect(listed.keys.sorted() == ["build", "docs", "slow", "test"])
            let build = try #require(listed["build"])
            #expect(build["kind"] as? String == "job" && build["status"] as? String == "fresh" && build["runs"] as? Int == 1, "\(build)")
            let last = try #require(build["lastRun"] as? [String: Any])
            #expect(last["cause"] as? String == "start (never run)" && last["status"] as? String == "succeeded" && last["exitCode"] as? Int == 0, "\(last)")
            #expect((last["startedAt"] as? Int ?? 0) > 1_700_000_000_000 && last["durationMs"] is Int, "\(last)")
            #expect(listed["docs"]?["status"] as? String == "never run" && listed["docs"]?["runs"] as? Int == 0)

            // The table, the history, the log and the cause chain.
            let table = try await shell(project, "graph")
            #expect(table.contains("TASK") && table.contains("✓ fresh") && table.contains("start (never run)"), "\(table)")
            let runs = try await shell(project, "runs build")
            #expect(runs.contains("succeeded") && runs.contains("sources="), "\(runs)")
            #expect(try await shell(project, "log build").contains("compiling v1"))
            let why = try await shell(project, "why test")
            #expect(why.contains("test #1") && why.contains("after build #1") && why.contains("build #1"), "\(why)")
            #expect(try await shell(project, "why nope", status: 1).contains("no task nope"))

            // A point of the graph's journal, for --at.
            let journal = try await shell(project, "journal dev/graph", json: true)
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(journal.utf8)) as? [[String: Any]])
            let before = try #require(entries.compactMap { $0["seq"] as? Int }.max())

            // A manual run of a job that is not auto; with a key, once.
            #expect(try await shell(project, "run docs").contains("ok run #1 of docs"))
            _ = try await settled(project, "docs", runs: 1)
            #expect(try await shell(project, "run docs --key release-1") == "ok\n")
            #expect(try await shell(project, "run docs --key release-1").contains("duplicate"))
            _ = try await settled(project, "docs", runs: 2)

            // Paused, an edit runs nothing (and why says so); resumed, it runs.
            #expect(try await shell(project, "graph pause").contains("ok paused dev"))
            try project.write("v2", to: "src/a.txt")
            try await Task.sleep(for: .seconds(1))
            let pausedRuns = try await tasks(project)["build"]?["runs"] as? Int
            #expect(pausedRuns == 1, "a paused graph ran its build")
            #expect(try await shell(project, "why build").contains("paused"))
            #expect(try await shell(project, "graph resume").contains("ok resumed dev"))
            _ = try await settled(project, "build", runs: 2)
            #expect(try await shell(project, "log build").contains("compiling v2"))

            // The graph as it was before the edit.
            let pastRuns = try await tasks(project, at: UInt64(before))["build"]?["runs"] as? Int
            #expect(pastRuns == 1, "graph --at did not show the past")

            // A run cancelled from the shell: its group is stopped, it is recorded cancelled.
            #expect(try await shell(project, "run slow").contains("ok run #1 of slow"))
            let started = Date().addingTimeInterval(10)
            while !project.lines.contains("slow"), Date() < started { try await Task.sleep(for: .milliseconds(50)) }
            #expect(try await shell(project, "cancel slow").contains("ok cancelled slow"))
            let slow = try await settled(project, "slow", runs: 1)
            #expect((slow["lastRun"] as? [String: Any])?["status"] as? String == "cancelled", "\(slow)")
            #expect(try await shell(project, "cancel slow", status: 1).contains("no run under way"))
        }
    }

    /// A graph as a `- graph: ID` entry of a tree file: its process a child of
    /// the tree, its jobs run as a graph file's do.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct TreeGraphEntryTests {
        @Test func aGraphEntryOfATreeRunsItsJobsAndShowsInTheShell() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try GraphRunTests.Project(in: dir, graph: """
                    supervisor: app
                    durable: true
                    children:
                      - graph: dev
                        watches:
                          - watch: sources
                            paths: [src/]
                        tasks:
                          - job: build
                            shell: "echo build $(cat src/a.txt) >> events"
                            inputs: [sources]
                    """)
                let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                #expect(try await project.lines(count: 1) == ["build v1"])
                try project.write("v2", to: "src/a.txt")
                #expect(try await project.lines(count: 2).last == "build v2", "an edit did not run the build of a graph inside a tree")
                let (_, tree, _) = try await runShell(project.data, ["tree"])
                #expect(tree.contains("dev/graph"), "\(tree)")
                let (_, table, errors) = try await runShell(project.data, ["graph"])
                #expect(table.contains("build") && table.contains("#2"), "\(table) \(errors)")
            }
        }
    }
}
