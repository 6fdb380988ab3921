import Foundation
import Testing

extension GraphEndToEnd {
    /// Graphs run by the real binary on a temporary project: edits trigger
    /// jobs in dependency order, once per burst; a killed node's run comes
    /// back interrupted and only stale tasks re-run.
    @Suite(.serialized, .timeLimit(.minutes(4))) struct GraphRunTests {
        /// A project directory with `src/a.txt` and the graph file `dev.yaml`.
        struct Project {
            let root: String
            var graph: String { root + "/dev.yaml" }
            var data: String { root + "/data" }
            var events: String { root + "/events" }

            init(in directory: String, graph text: String) throws {
                root = directory + "/project"
                try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
                try write("v1", to: "src/a.txt")
                try text.write(toFile: graph, atomically: true, encoding: .utf8)
            }

            func write(_ text: String, to path: String) throws {
                try text.write(toFile: root + "/" + path, atomically: false, encoding: .utf8)
            }

            /// The lines the jobs appended to `events`.
            var lines: [String] {
                ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }

            /// Waits until `events` holds `count` lines (or `seconds` pass); returns them.
            func lines(count: Int, within seconds: Double = 30) async throws -> [String] {
                let deadline = Date().addingTimeInterval(seconds)
                while lines.count < count, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
                return lines
            }
        }

        /// (The debounce is wide enough that a loaded machine pausing the test's
        /// writer for a moment does not end its burst: quiet is what ends one.)
        static let buildAndTest = """
            graph: dev
            debounce: 500
            parallel: 2
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: build
                shell: "echo build $(cat src/a.txt) >> events; cp src/a.txt out.txt"
                inputs: [sources]
                outputs: [out.txt]
              - job: test
                shell: "sleep 0.1; echo test $(cat out.txt) >> events"
                dependsOn: [build]
            """

        @Test func editsRunBuildThenTestOncePerBurstAtomicSavesAndNewDirectoriesIncluded() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: Self.buildAndTest)
                let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                // Never run: the start runs the build, then the test after it.
                #expect(try await project.lines(count: 2) == ["build v1", "test v1"])

                try project.write("v2", to: "src/a.txt")
                #expect(try await project.lines(count: 4).suffix(2) == ["build v2", "test v2"], "an edit did not run build, then test")

                // 50 writes in a burst: one build, one test, with the last content.
                for n in 3...52 { try project.write("v\(n)", to: "src/a.txt") }
                #expect(try await project.lines(count: 6).suffix(2) == ["build v52", "test v52"])
                try await Task.sleep(for: .seconds(1))
                #expect(project.lines.count == 6, "a burst of 50 writes ran more than once: \(project.lines)")

                // An editor's atomic save: a temporary file renamed over the original.
                try project.write("v53", to: "src/.a.txt.swp")
                #expect(rename(project.root + "/src/.a.txt.swp", project.root + "/src/a.txt") == 0)
                #expect(try await project.lines(count: 8).suffix(2) == ["build v53", "test v53"], "an atomic save did not trigger")

                // A file in a directory made after the start.
                try FileManager.default.createDirectory(atPath: project.root + "/src/new/deep", withIntermediateDirectories: true)
                try project.write("x", to: "src/new/deep/b.txt")
                #expect(try await project.lines(count: 10).suffix(2) == ["build v53", "test v53"], "a file in a new directory did not trigger")

                // The ledger: runs with their causes, journaled.
                let (status, state, errors) = try await runShell(project.data, ["state dev/graph"])
                #expect(status == 0, "\(errors)")
                #expect(state.contains("\"runCount\":5") || state.contains("\"runCount\" : 5"), "\(state.prefix(2000))")
                #expect(state.contains("after build #5"), "\(state.prefix(2000))")
            }
        }

        static let slowAndQuick = """
            graph: dev
            parallel: 2
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: slow
                shell: "echo start >> events; sleep 60; echo end >> events"
                inputs: [sources]
                killAfter: 500
              - job: quick
                shell: "echo quick >> events"
            """

        @Test func aNodeKilledDuringARunComesBackWithItInterruptedItsGroupStoppedAndOnlyStaleTasksRerun() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: Self.slowAndQuick)
                var node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                #expect(Set(try await project.lines(count: 2)) == ["start", "quick"])
                // Its success journaled (the echo is seen before the run has ended).
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline, !(try await runShell(project.data, ["state dev/graph"]).1.contains("\"succeeded\"")) {
                    try await Task.sleep(for: .milliseconds(50))
                }
                let marker = project.data + "/graph/dev/logs/slow/1.log.started"
                let fields = try String(contentsOfFile: marker, encoding: .utf8).split(separator: " ")
                let group = try #require(fields.first.flatMap { Int32($0) })
                #expect(group > 0)
                await node.killHard()
                // The run's process group outlives the node that started it.
                #expect(kill(-group, 0) == 0, "the run's group died with the node")

                node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                let stopBy = Date().addingTimeInterval(10)
                while kill(-group, 0) == 0, Date() < stopBy { try await Task.sleep(for: .milliseconds(50)) }
                #expect(kill(-group, 0) != 0, "the group a killed node left was not stopped at the next start")
                // The interrupted task runs again; the one that succeeded does not.
                #expect(try await project.lines(count: 3).filter { $0 == "start" }.count == 2)
                try await Task.sleep(for: .milliseconds(500))
                #expect(project.lines.filter { $0 == "quick" }.count == 1, "a fresh task ran again after the restart: \(project.lines)")
                #expect(!project.lines.contains("end"))
                let (_, state, _) = try await runShell(project.data, ["state dev/graph"])
                #expect(state.contains("\"interrupted\""), "\(state.prefix(3000))")
                // (The start is planned before the re-run effect reports the interruption.)
                #expect(state.contains("start (its run #1 never ended)"), "\(state.prefix(3000))")

                // A manual run with the same key twice runs once.
                let run = #"send dev/graph {"run":{"task":"quick","by":"test"}} --key manual-1"#
                let (first, firstOut, firstErrors) = try await runShell(project.data, [run])
                #expect(first == 0, "\(firstOut) \(firstErrors)")
                let (_, again, _) = try await runShell(project.data, [run])
                #expect(again.contains("duplicate"), "\(again)")
                #expect(try await project.lines(count: 4).filter { $0 == "quick" }.count == 2)
                try await Task.sleep(for: .milliseconds(500))
                #expect(project.lines.filter { $0 == "quick" }.count == 2, "a manual run with one key ran twice")
            }
        }

        @Test func aGraphFileWithACycleOrAnUnknownDependencyStartsNothing() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: """
                    graph: dev
                    tasks:
                      - job: a
                        shell: "echo a >> events"
                        dependsOn: [b]
                      - job: b
                        shell: "echo b >> events"
                        dependsOn: [a, bulid]
                    """)
                let (status, _, errors) = try await runCalf(["node", "--data", project.data, "--durability", "process", project.graph])
                #expect(status == 1)
                #expect(errors.contains("dev.yaml:5:") && errors.contains("cycle"), "\(errors)")
                #expect(errors.contains("bulid"), "\(errors)")
                #expect(!FileManager.default.fileExists(atPath: project.events), "a job ran from a graph file that does not check")
            }
        }
    }
}
