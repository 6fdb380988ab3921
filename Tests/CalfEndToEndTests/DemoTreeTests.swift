import Foundation
import Testing

/// The OS processes whose parent is `parent` and whose command line contains `marker`.
private func children(of parent: Int32, containing marker: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, Int32(fields[1]) == parent else { return false }
        return commandLine(pid)?.contains(marker) == true
    }
}

private func commandLine(_ pid: Int32) -> String? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
    return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
}

/// The trees that ship, booted by the real `calf node`.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DemoTreeTests {
    @Test func theDemoTreeRunsItsPoolAndPortAndComesBackWithoutStartingThePoolTwice() async throws {
        try await withTemporaryDataDirectory { dir in
            let tree = packageRoot.appendingPathComponent("Supervisors/demo.yaml").path
            let data = dir + "/data"
            var node = try await NodeProcess(data: data, tree: tree, durability: "process")
            // The pool's four durable tallies.
            for n in 1...4 {
                let (status, out, err) = try await runShell(data, ["send demo/pool/tally-\(n) {\"add\":{\"_0\":\(n * 10)}}"])
                #expect(status == 0, "\(err)")
                #expect(out == "ok\n")
            }
            // The port's shell loop runs, a child of the node.
            var loops: [Int32] = []
            for _ in 0..<200 where loops.isEmpty {
                loops = children(of: node.process.processIdentifier, containing: "tick")
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(loops.count == 1)
            #expect(await node.stop() == 0)
            // Stopped with the node: no orphan left.
            for pid in loops { #expect(commandLine(pid)?.contains("tick") != true, "port process \(pid) outlived the node") }

            node = try await NodeProcess(data: data, tree: tree, durability: "process")
            for n in 1...4 {
                let (status, out, _) = try await runShell(data, ["state demo/pool/tally-\(n)"])
                #expect(status == 0)
                #expect(out == "{\"total\":\(n * 10)}\n")
            }
            // The durable pool brought its four children back and did not start four more.
            let (status, _, err) = try await runShell(data, ["state demo/pool/tally-5"])
            #expect(status != 0)
            #expect(err.contains("no durable process demo/pool/tally-5"), "\(err)")
            #expect(await node.stop() == 0)
        }
    }

    @Test func aNodeStartedAfterKill9StopsThePortCommandsItsPredecessorLeft() async throws {
        try await withTemporaryDataDirectory { dir in
            // A command that neither reads nor writes: nothing tells it its node is gone.
            let tree = dir + "/tree.yaml"
            try "supervisor: s\nchildren:\n  - port: sleeper\n    command: [/bin/sleep, \"1000\"]\n"
                .write(toFile: tree, atomically: true, encoding: .utf8)
            let data = dir + "/data"
            var node = try await NodeProcess(data: data, tree: tree, durability: "process")
            var sleepers: [Int32] = []
            for _ in 0..<200 where sleepers.isEmpty {
                sleepers = children(of: node.process.processIdentifier, containing: "sleep 1000")
                try await Task.sleep(for: .milliseconds(10))
            }
            let sleeper = try #require(sleepers.first)
            defer { kill(-sleeper, SIGKILL) }
            await node.killHard()
            // kill -9 leaves the command running (it has its own process group)...
            #expect(commandLine(sleeper)?.contains("sleep 1000") == true)
            node = try await NodeProcess(data: data, tree: tree, durability: "process")
            // ...until the next node on the directory starts (SIGKILL takes effect a moment later on a loaded machine).
            #expect(await eventually(within: 10) { commandLine(sleeper)?.contains("sleep 1000") != true }, "port process \(sleeper) outlived a kill -9 and a restart")
            #expect(node.output.withLock { $0 }.contains("stopped the port process group \(sleeper)"))
            #expect(await node.stop() == 0)
        }
    }

    @Test func aDurableTreeComesBackAfterKill9() async throws {
        try await withTemporaryDataDirectory { dir in
            let tree = dir + "/tree.yaml"
            try """
            supervisor: root
            durable: true
            children:
              - worker: main
                behavior: Tally
                config: { start: 7 }
              - supervisor: pool
                strategy: simpleOneForOne
                durable: true
                template: { worker: t, behavior: Tally, config: { start: 100 } }
                start: 3
            """.write(toFile: tree, atomically: true, encoding: .utf8)
            let data = dir + "/data"
            var node = try await NodeProcess(data: data, tree: tree)
            for (name, key) in [("root/pool/t-1", "a"), ("root/pool/t-3", "b"), ("main", "c")] {
                let (status, out, err) = try await runShell(data, ["send \(name) {\"add\":{\"_0\":1}} --key \(key)"])
                #expect(status == 0 && out == "ok\n", "\(err)")
            }
            await node.killHard()

            node = try await NodeProcess(data: data, tree: tree)
            let expected = ["root/pool/t-1": 101, "root/pool/t-2": 100, "root/pool/t-3": 101, "main": 8]
            for (name, total) in expected {
                let (status, out, err) = try await runShell(data, ["state \(name)"])
                #expect(status == 0, "\(err)")
                #expect(out == "{\"total\":\(total)}\n", "\(name)")
            }
            let (status, _, _) = try await runShell(data, ["state root/pool/t-4"])
            #expect(status != 0)
            #expect(await node.stop() == 0)
        }
    }
}
