import Calf
import Foundation
import Testing

/// The shell as an operator uses it: `trace`, the interactive shell (line
/// editing, completion, history across sessions) and `top` through a
/// pseudo-terminal (tmux), and `--offline` on a data directory, all against
/// a real `calf node` on the demo tree.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ShellInteractiveTests {
    func pid(_ data: String, _ name: String) async throws -> String {
        let (status, out, err) = try await runShell(data, ["info \(name)"])
        #expect(status == 0, "\(err)")
        return String(out.split(separator: "\n").first { $0.hasPrefix("pid") }?.split(separator: " ").last ?? "")
    }

    @Test func traceStreamsWhatAProcessTakesInAndSendsOut() async throws {
        try await withDemoNode { data, _ in
            let collector = try await pid(data, "collector")
            // The producer takes a tick every second and sends a value to the collector.
            let (status, out, err) = try await runShell(data, ["trace producer --limit 4"])
            #expect(status == 0, "\(err)")
            let lines = out.split(separator: "\n").map(String.init)
            #expect(lines.count == 6, "\(out)")
            #expect(lines.first?.hasPrefix("following producer:") == true, "\(out)")
            #expect(lines.filter { $0.hasSuffix(#"<< message "tick""#) }.count == 2, "\(out)")
            // The collector's messages are Encodable: shown as JSON.
            #expect(lines.filter { $0.contains(#">> message \#(collector) {"value":{"_0":"#) }.count == 2, "\(out)")
            #expect(lines.last == "trace ended: limit of 4 reached")

            // --json: one update per line: the trace is on, the events, how it ended.
            let (jsonStatus, json, _) = try await runCalf(["shell", "--data", data, "--json", "-c", "trace collector --limit 2"])
            #expect(jsonStatus == 0)
            let jsonLines = json.split(separator: "\n")
            #expect(jsonLines.first == #"{"following":"collector"}"#, "\(json)")
            let updates = try jsonLines.dropFirst().map { try JSONDecoder().decode(TraceUpdate.self, from: Data($0.utf8)) }
            let events = updates.compactMap { update -> TraceEvent? in
                if case .event(let event) = update { return event }
                return nil
            }
            #expect(events.count == 2 && events.allSatisfy { $0.direction == "in" && $0.message["value"]?["_0"] != nil }, "\(json)")
            #expect(updates.count == 3 && updates.last == .ended("limit of 2 reached"), "\(json)")

            let (missing, _, missingErr) = try await runShell(data, ["trace nobody"])
            #expect(missing == 1 && missingErr.contains("no process nobody"))
        }
    }

    @Test func theInteractiveShellEditsCompletesTracesAndRemembers() async throws {
        try await withDemoNode { data, _ in
            let history = data + "-history"
            let command = "env CALF_HISTORY=\(history) \(try calfBinary().path) shell --data \(data)"
            do {
                let terminal = try TmuxTerminal(command)
                defer { terminal.close() }
                try await terminal.waitFor("calf>")
                // Tab completes a command, then a registered name.
                try terminal.type("na", literal: true)
                try terminal.type("Tab")
                try await terminal.waitFor("calf> names")
                try terminal.type("Enter")
                try await terminal.waitFor("demo/pool/tally-4")
                try terminal.type("info coll", literal: true)
                try terminal.type("Tab")
                try await terminal.waitFor("calf> info collector")
                try terminal.type("Enter")
                try await terminal.waitFor("behavior   Collector")
                // Editing: a word typed wrong, taken back with Ctrl-W, and the line fixed at its start.
                try terminal.type("tally demo/pool/tally-3 oops", literal: true)
                try terminal.type("C-w", "C-a", "Delete", "Delete", "Delete", "Delete", "Delete")
                try terminal.type("trace", literal: true)
                try terminal.type("Enter")
                try await terminal.waitFor("calf> trace demo/pool/tally-3")
                // Once it says it follows, the trace shows what the process takes in, until Ctrl-C.
                try await terminal.waitFor("following demo/pool/tally-3")
                let (sent, _, sendErr) = try await runShell(data, [#"send demo/pool/tally-3 {"add":{"_0":9}}"#])
                #expect(sent == 0, "\(sendErr)")
                try await terminal.waitFor(#"<< message {"add":{"_0":9}}"#)
                try terminal.type("C-c")
                let screen = try await terminal.waitFor(within: 10, "the prompt after the trace") { screen in
                    guard let ended = screen.range(of: "trace ended: the shell stopped following") else { return false }
                    return screen[ended.upperBound...].contains("calf>")
                }
                #expect(!screen.contains("error"), "\(screen)")
                try terminal.type("C-d")
                #expect(await terminal.waitForExit())
            }
            // A second session finds the lines of the first: Up twice is `info collector`.
            let second = try TmuxTerminal(command)
            defer { second.close() }
            try await second.waitFor("calf>")
            try second.type("Up")
            try await second.waitFor("calf> trace demo/pool/tally-3")
            try second.type("Up")
            try await second.waitFor("calf> info collector")
            try second.type("Enter")
            try await second.waitFor("behavior   Collector")
            try second.type("quit", literal: true)
            try second.type("Enter")
            #expect(await second.waitForExit())
            let saved = try String(contentsOfFile: history, encoding: .utf8)
            #expect(saved == "names\ninfo collector\ntrace demo/pool/tally-3\ninfo collector\nquit\n")
            try? FileManager.default.removeItem(atPath: history)
        }
    }

    @Test func topShowsTheBusiestProcessesLiveAndQuitsWithQ() async throws {
        try await withDemoNode { data, _ in
            let terminal = try TmuxTerminal("\(try calfBinary().path) shell --data \(data) -c top; echo top-exit=$?; sleep 30")
            defer { terminal.close() }
            try await terminal.waitFor("calf top — 12 processes, by msgs/s")
            // After a second refresh the producer and the collector run at about a message a second.
            let screen = try await terminal.waitFor(within: 15, "the producer's rate") { screen in
                screen.split(separator: "\n").contains { line in
                    let columns = line.split(separator: " ", omittingEmptySubsequences: true)
                    return columns.count >= 5 && columns[1] == "producer" && (Int(columns[4]) ?? 0) >= 1
                }
            }
            #expect(screen.contains("PID") && screen.contains("MSGS/S") && screen.contains("schedulers 2"))
            let rows = screen.split(separator: "\n").filter { $0.hasPrefix("<0.") }
            #expect(rows.count == 12)
            try terminal.type("s")
            try await terminal.waitFor("by mailbox")
            try terminal.type("q")
            try await terminal.waitFor("top-exit=0")
        }
    }

    @Test func offlineShellReadsTheDataDirectoryOfARunningOrStoppedNode() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Supervisors/demo.yaml").path, durability: "process")
            for n in [5, 7, 11] {
                let (status, _, err) = try await runShell(data, [#"send demo/pool/tally-2 {"add":{"_0":\#(n)}}"#])
                #expect(status == 0, "\(err)")
            }
            let live = try await runShell(data, ["state demo/pool/tally-2"]).1
            #expect(live == "{\"total\":23}\n")
            // Beside the running node: the same state, the journal, a past state.
            let (status, out, err) = try await runCalf(["shell", "--data", data, "--offline", "-c", "state demo/pool/tally-2"])
            #expect(status == 0, "\(err)")
            let journal = try await runShell(data, ["journal demo/pool/tally-2"]).1
            // The state as of the record that handled the second message: 5 + 7.
            let handled = journal.split(separator: "\n").filter { $0.contains("handled") }.map { Int($0.split(separator: " ")[0]) ?? 0 }
            #expect(handled.count == 3, "\(journal)")
            let atSecond = try await runShell(data, ["state demo/pool/tally-2 --at \(handled[1])"]).1
            #expect(atSecond == "{\"total\":12}\n")
            #expect(out == "{\"total\":23}\n", "\(out)")

            // Stopped: ps shows the durable processes as the directory holds them; nothing runs, nothing is written.
            #expect(await node.stop() == 0)
            let before = try FileManager.default.attributesOfItem(atPath: data + "/data.mdb")[.modificationDate] as? Date
            let (psStatus, ps, psErr) = try await runCalf(["shell", "--data", data, "--offline", "--json", "-c", "ps", "-c", "state demo/pool/tally-2 --at \(handled[1])"])
            #expect(psStatus == 0, "\(psErr)")
            let lines = ps.split(separator: "\n")
            let reports = try JSONDecoder().decode([ProcessReport].self, from: Data(lines[0].utf8))
            #expect(Set(reports.compactMap(\.name)) == Set((1...4).map { "demo/pool/tally-\($0)" }))
            #expect(reports.allSatisfy { $0.status == "suspended" && $0.durable })
            #expect(reports.first { $0.name == "demo/pool/tally-2" }?.handled == 3)
            #expect(lines[1] == "{\"total\":12}")
            let after = try FileManager.default.attributesOfItem(atPath: data + "/data.mdb")[.modificationDate] as? Date
            #expect(before == after)
            // What needs a running node is refused, with a reason.
            let (refused, _, refusedErr) = try await runCalf(["shell", "--data", data, "--offline", "-c", #"send demo/pool/tally-2 {"add":{"_0":1}}"#])
            #expect(refused == 1 && refusedErr.contains("send needs a running node"))
            let (noData, _, noDataErr) = try await runCalf(["shell", "--data", dir + "/nothing", "--offline", "-c", "ps"])
            #expect(noData != 0 && noDataErr.contains("no journal in"))
        }
    }
}
