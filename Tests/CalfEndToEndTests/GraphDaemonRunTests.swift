import Foundation
import Testing

extension GraphEndToEnd {
    /// A graph's daemon run by the real binary on a temporary project: an
    /// edit rebuilds, tests and restarts the server once, in that order; a
    /// failing build leaves the last good server up; a killed node's server
    /// is stopped and started again at the next start, without a rebuild.
    @Suite(.serialized, .timeLimit(.minutes(4))) struct GraphDaemonRunTests {
        typealias Project = GraphRunTests.Project

        /// build → {test, lint} → server: a diamond whose bottom is a daemon.
        /// The server is a calf node serving HTTP on `port` (`/healthz`, ready
        /// by an HTTP check); it notes its pid and the build it runs.
        static func service(port: Int) throws -> String {
            let server = "exec \(try calfBinary().path) node --data srv --durability process --http 127.0.0.1:\(port) "
                + packageRoot.appendingPathComponent("Supervisors/bank.yaml").path
            return """
            graph: dev
            debounce: 150
            parallel: 2
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: build
                shell: "if grep -q broken src/a.txt; then echo build failed >> events; exit 1; fi; echo build $(cat src/a.txt) >> events; cp src/a.txt out.txt"
                inputs: [sources]
                outputs: [out.txt]
              - job: test
                shell: "sleep 0.2; echo test $(cat out.txt) >> events"
                dependsOn: [build]
              - job: lint
                shell: "echo lint $(cat out.txt) >> events"
                dependsOn: [build]
              - daemon: server
                shell: "echo server $(cat out.txt) >> events; echo $$ > server.pid; \(server)"
                dependsOn:
                  build: { condition: succeeded, cutoff: outputs }
                  test: succeeded
                  lint: succeeded
                ready: { http: "http://127.0.0.1:\(port)/healthz", interval: 100, timeout: 20000 }
                killAfter: 3000
            """
        }

        /// Whether the server answers `/healthz` on `port` with 200.
        static func serving(_ port: Int) async -> Bool {
            (try? await HTTPAPITests.request("GET", "http://127.0.0.1:\(port)/healthz", token: nil).status) == 200
        }

        /// Waits until process `pid` is gone.
        static func gone(_ pid: Int32, within seconds: Double = 10) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while kill(pid, 0) == 0, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            return kill(pid, 0) != 0
        }

        /// The server's pid as it wrote it, once it differs from `old`.
        static func serverPid(_ project: Project, other old: Int32? = nil, within seconds: Double = 20) async throws -> Int32? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let text = (try? String(contentsOfFile: project.root + "/server.pid", encoding: .utf8)) ?? ""
                if let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid != old { return pid }
                try await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }

        /// Waits until the graph's state contains `text`.
        static func state(_ project: Project, contains text: String, within seconds: Double = 15) async throws -> String {
            let deadline = Date().addingTimeInterval(seconds)
            var state = ""
            while Date() < deadline {
                state = try await runShell(project.data, ["state dev/graph"]).1
                if state.contains(text) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return state
        }

        @Test func anEditRestartsTheServerAfterBuildAndTestsAndAFailingBuildKeepsTheOldOneUp() async throws {
            try await withTemporaryDataDirectory { dir in
                let port = try freePort()
                let project = try Project(in: dir, graph: try Self.service(port: port))
                var node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                let first = try #require(try await Self.serverPid(project), "the server never started")
                let startup = try await project.lines(count: 4)
                #expect(startup.first == "build v1" && startup.last == "server v1" && Set(startup.dropFirst().dropLast()) == ["test v1", "lint v1"],
                        "the server did not start after its build and both its checks: \(startup)")
                #expect(try await Self.state(project, contains: "readyAt").contains("readyAt"), "the server's readiness check did not pass")
                #expect(await Self.serving(port))

                // An edit: build, then test and lint, then one restart of the server (the diamond's bottom, once).
                try project.write("v2", to: "src/a.txt")
                let second = try #require(try await Self.serverPid(project, other: first), "the edit did not restart the server")
                let edited = Array(try await project.lines(count: 8).suffix(4))
                #expect(edited.first == "build v2" && edited.last == "server v2" && Set(edited.dropFirst().dropLast()) == ["test v2", "lint v2"], "\(edited)")
                try await Task.sleep(for: .milliseconds(500))
                #expect(project.lines.filter { $0.hasPrefix("server") }.count == 2, "the server restarted more than once: \(project.lines)")
                #expect(try await Self.gone(first), "the replaced server is still running")
                #expect(await Self.serving(port))

                // A failing build: nothing after it runs, and the server it would replace stays up.
                try project.write("broken", to: "src/a.txt")
                #expect(try await project.lines(count: 9).last == "build failed")
                try await Task.sleep(for: .seconds(1))
                #expect(project.lines.count == 9, "something ran after a failed build: \(project.lines)")
                #expect(kill(second, 0) == 0, "the last good server was stopped by a failed build")
                #expect(await Self.serving(port), "the last good server does not serve while the build is failed")
                #expect(try await Self.state(project, contains: "build #3 failed").contains("build #3 failed"))

                // The fix restarts it; then a node killed with -9 leaves the server behind, and the next start
                // stops it and starts the server again without building (nothing is stale).
                try project.write("v4", to: "src/a.txt")
                let third = try #require(try await Self.serverPid(project, other: second), "the fixed build did not restart the server")
                #expect(Array(try await project.lines(count: 13).suffix(1)) == ["server v4"])
                let state = try await Self.state(project, contains: "restarted (")
                #expect(state.contains("restarted (after build #2"), "\(state.prefix(3000))")
                #expect(!state.contains("\"crashes\":[1") && !state.contains("\"crashes\" : [1"), "an intentional restart counted as a crash: \(state.prefix(3000))")
                await node.killHard()
                #expect(kill(third, 0) == 0, "the server died with the node")
                node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                let fourth = try #require(try await Self.serverPid(project, other: third), "the server was not started again")
                #expect(try await Self.gone(third), "the server a killed node left was not stopped")
                try await Task.sleep(for: .milliseconds(500))
                #expect(project.lines.suffix(1) == ["server v4"] && project.lines.count == 14, "more than the server ran after the restart: \(project.lines)")
                #expect(try await Self.state(project, contains: "\"interrupted\"").contains("\"interrupted\""))
                #expect(await Self.serving(port))
                _ = await node.stop()
                #expect(try await Self.gone(fourth), "the server outlived the node's stop")
            }
        }

        /// A daemon that exits at once: restarted after its backoff, given up past its intensity.
        @Test func aCrashingDaemonIsRestartedWithBackoffThenGivenUp() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: """
                    graph: dev
                    tasks:
                      - daemon: flaky
                        shell: "echo crash >> events; exit 3"
                        intensity: 2
                        period: 60
                        backoff: { initial: 100, maximum: 400 }
                    """)
                let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                #expect(try await project.lines(count: 3).count == 3, "it was not restarted twice")
                let state = try await Self.state(project, contains: "given up")
                #expect(state.contains("3 times within 60 s"), "\(state.prefix(3000))")
                try await Task.sleep(for: .seconds(1))
                #expect(project.lines.count == 3, "a daemon given up was started again: \(project.lines)")
            }
        }

        /// A daemon with `reload:` is signalled on an input change, not restarted.
        @Test func anInputChangeSignalsADaemonWithReloadInsteadOfRestartingIt() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: """
                    graph: dev
                    debounce: 100
                    watches:
                      - watch: config
                        paths: [config.txt]
                    tasks:
                      - daemon: server
                        shell: "trap 'echo reloaded $(cat config.txt) >> events' HUP; echo $$ > server.pid; echo up >> events; while true; do sleep 0.1; done"
                        inputs: [config]
                        reload: SIGHUP
                        killAfter: 500
                    """)
                try project.write("c1", to: "config.txt")
                let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                #expect(try await project.lines(count: 1) == ["up"])
                let pid = try #require(try await Self.serverPid(project))
                try project.write("c2", to: "config.txt")
                #expect(try await project.lines(count: 2) == ["up", "reloaded c2"], "the change did not reach the daemon as SIGHUP")
                try await Task.sleep(for: .milliseconds(500))
                #expect(project.lines.count == 2 && kill(pid, 0) == 0, "the daemon was restarted instead of signalled: \(project.lines)")
            }
        }
    }
}
