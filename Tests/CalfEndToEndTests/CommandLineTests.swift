import Calf
import Foundation
import Testing

/// The command line's contract as README.md states it: exit statuses and
/// what a node refuses.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CommandLineTests {
    @Test func aNodeWhoseRootGivesUpExitsOneNamingIt() async throws {
        try await withTemporaryDataDirectory { dir in
            let tree = dir + "/tree.yaml"
            try """
            supervisor: fragile
            intensity: 0
            children:
              - worker: flaky
                behavior: Flaky
                config: { minimumMilliseconds: 20, maximumMilliseconds: 30 }
            """.write(toFile: tree, atomically: true, encoding: .utf8)
            let (status, out, err) = try await runCalf(["node", "--data", dir + "/data", "--durability", "process", tree])
            #expect(status == 1, "\(out)\(err)")
            #expect(out.contains("calf node ready"), "\(out)")
            #expect(err.contains("calf: the root supervisor 'fragile' exited (shutdown): stopping the node"), "\(err)")
        }
    }

    @Test func aSecondNodeOnALiveDataDirectoryIsRefusedAndTouchesNothing() async throws {
        try await withDemoNode { data, node in
            let before = try await runShell(data, ["tree", "info demo/pool/tally-1"])
            let tree = packageRoot.appendingPathComponent("Tests/Fixtures/steady-demo.yaml").path
            let (status, out, err) = try await runCalf(["node", "--data", data, "--durability", "process", tree])
            #expect(status != 0)
            #expect(!out.contains("ready"), "\(out)")
            #expect(err.contains("another node is running on the data directory \(data) (process \(node.process.processIdentifier))"), "\(err)")
            // The live node goes on as it was: its port, its processes, its journal.
            let after = try await runShell(data, ["tree", "info demo/pool/tally-1"])
            #expect(after.0 == 0)
            // The same processes, the port among them (a second node would have stopped it as a leftover).
            let lines = { (text: String) in text.split(separator: "\n").filter { $0.contains("<0.") && !$0.contains("restart") } }
            #expect(lines(after.1) == lines(before.1), "\(before.1) vs \(after.1)")
            #expect(lines(after.1).contains { $0.contains("clock <") && $0.contains("Port(/bin/sh) running") }, "\(after.1)")
            #expect(try await runShell(data, [#"send demo/pool/tally-1 {"add":{"_0":2}}"#, #"call demo/pool/tally-1 {"get":{}}"#]).1 == "ok\n2\n")
        }
    }

    @Test func theShellsExitStatusSaysWhatWentWrong() async throws {
        try await withTemporaryDataDirectory { dir in
            // No node there: 2.
            var (status, _, err) = try await runShell(dir, ["ps"])
            #expect(status == 2, "\(err)")
            #expect(err.contains("cannot attach"), "\(err)")
            // Not a command: 64, without needing a node.
            (status, _, err) = try await runShell(dir, ["frobnicate now"])
            #expect(status == 64, "\(err)")
            // The node refused: 1.
            try await withDemoNode { data, _ in
                let (refused, _, refusal) = try await runShell(data, ["state nobody"])
                #expect(refused == 1, "\(refusal)")
                // The first error ends the run: the command after it is not run.
                let (stopped, out, _) = try await runShell(data, ["state nobody", "names"])
                #expect(stopped == 1 && out.isEmpty, "\(out)")
            }
        }
    }
}
