import CalfControl
import Foundation
import Testing
@testable import CalfShell

@Suite(.timeLimit(.minutes(2))) struct LineEditingTests {
    @Test func keysDecodeFromWhatTerminalsSend() {
        #expect(LineKey.parse(Array("ps".utf8) + [0x0d]) == [.text("ps"), .enter])
        #expect(LineKey.parse([0x1b, 0x5b, 0x41, 0x1b, 0x5b, 0x42, 0x1b, 0x5b, 0x43, 0x1b, 0x5b, 0x44]) == [.up, .down, .right, .left])
        #expect(LineKey.parse([0x1b, 0x4f, 0x48, 0x1b, 0x5b, 0x46, 0x1b, 0x5b, 0x33, 0x7e]) == [.home, .end, .delete])
        #expect(LineKey.parse([0x1b, 0x5b, 0x31, 0x3b, 0x35, 0x44, 0x1b, 0x62]) == [.wordLeft, .wordLeft])
        #expect(LineKey.parse([0x01, 0x05, 0x0b, 0x15, 0x17, 0x03, 0x04, 0x09, 0x7f, 0x0c]) ==
            [.home, .end, .killToEnd, .killToStart, .killWordBefore, .interrupt, .endOfInput, .tab, .backspace, .clearScreen])
        // UTF-8 typed in one read stays whole.
        #expect(LineKey.parse(Array("état ✓".utf8)) == [.text("état ✓")])
        // A lone escape or an unknown sequence is ignored, not an error.
        #expect(LineKey.parse([0x1b]) == [.unknown])
        #expect(LineKey.parse([0x1b, 0x5b, 0x39, 0x39, 0x7a, 0x61]) == [.unknown, .text("a")])
    }

    @Test func theBufferEditsLikeReadline() {
        var line = LineBuffer()
        for key in LineKey.parse(Array("info collector".utf8)) { line.apply(key) }
        line.apply(.wordLeft)
        #expect(line.cursor == 5)
        line.apply(.killToEnd)
        #expect(line.text == "info ")
        line.insert("producer")
        line.apply(.home)
        line.apply(.delete)
        line.apply(.delete)
        line.apply(.delete)
        line.apply(.delete)
        line.insert("trace")
        #expect(line.text == "trace producer" && line.cursor == 5)
        line.apply(.end)
        line.apply(.killWordBefore)
        #expect(line.text == "trace ")
        line.apply(.backspace)
        line.apply(.left)
        line.apply(.killToStart)
        #expect(line.text == "e" && line.cursor == 0)
        line.apply(.backspace)
        #expect(line.text == "e")
        let tookEnter = line.apply(.enter)
        #expect(!tookEnter)
    }

    @Test func tabCompletesCommandsNamesPidsAndOptions() {
        let processes = ["collector", "demo/pool/tally-1", "demo/pool/tally-2", "<0.4>", "<0.1.0>"]
        let commands = ShellCompletion.candidates(for: "st", processes: processes)
        #expect(commands.words == ["state", "stats"] && commands.commonPrefix == "stat" && commands.wordStart == 0)
        #expect(ShellCompletion.candidates(for: "tr", processes: processes).words == ["trace", "tree"])
        let name = ShellCompletion.candidates(for: "info col", processes: processes)
        #expect(name.words == ["collector"] && name.wordStart == 5 && name.prefix == "col")
        #expect(ShellCompletion.candidates(for: "state demo/pool/", processes: processes).commonPrefix == "demo/pool/tally-")
        #expect(ShellCompletion.candidates(for: "trace <0.", processes: processes).words == ["<0.1.0>", "<0.4>"])
        #expect(ShellCompletion.candidates(for: "ps --sort m", processes: processes).words == ["mailbox", "memory", "msgs"])
        #expect(ShellCompletion.candidates(for: "ps ", processes: processes).words == ["--sort"])
        #expect(ShellCompletion.candidates(for: "journal collector --", processes: processes).words == ["--from", "--limit"])
        #expect(ShellCompletion.candidates(for: "journal collector --from 3 --", processes: processes).words == ["--limit"])
        #expect(ShellCompletion.candidates(for: "dead re", processes: processes).words == ["retry"])
        #expect(ShellCompletion.candidates(for: "kill collector s", processes: processes).words == ["shutdown"])
        #expect(ShellCompletion.candidates(for: "help to", processes: processes).words == ["top"])
        #expect(ShellCompletion.candidates(for: "tree ", processes: processes).words.isEmpty)
    }

    @Test func historyIsKeptAcrossSessionsInItsFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("calf-history-\(UUID().uuidString)").path
        defer { unlink(path) }
        let first = ShellHistory(path: path, limit: 3)
        #expect(first.entries.isEmpty)
        for line in ["ps", "ps", "  ", "info collector", "tree", "stats"] { first.add(line) }
        #expect(first.entries == ["ps", "info collector", "tree", "stats"])
        let second = ShellHistory(path: path, limit: 3)
        #expect(second.entries == ["info collector", "tree", "stats"])
        second.add("names")
        #expect(ShellHistory(path: path, limit: 10).entries == ["ps", "info collector", "tree", "stats", "names"])
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        #expect(ShellHistory(path: path + "-missing").entries.isEmpty)
    }

    @Test func topDrawsTheRowsInItsOrderCutToTheScreen() throws {
        func report(_ pid: String, mailbox: Int, handled: UInt64) -> ProcessReport {
            ProcessReport(pid: pid, name: nil, behavior: "B", scheduler: 0, status: "waiting", mailbox: mailbox, handled: handled, restarts: 0,
                          memory: 100, durable: false, trapsExits: false, links: [], monitoredBy: [], quarantine: nil)
        }
        let stats = NodeStats(
            schedulers: [.init(index: 0, processes: 2, runQueue: 1, messagesPerSecond: 0), .init(index: 1, processes: 1, runQueue: 0, messagesPerSecond: 0)],
            processesByStatus: ["waiting": 3],
            log: .init(commits: 1, records: 300, recordsPerSecond: 0, commitP50Milliseconds: nil, commitP99Milliseconds: 1.5, usedBytes: 0, mapBytes: 0,
                       mapGrowths: 0, restarts: 0, deadLettered: 0),
            windowSeconds: 0)
        let byRate = TopAnswer(processes: 3, intervalSeconds: 2, rows: [TopRow(report: report("<0.1>", mailbox: 0, handled: 310), rate: 150),
                                                                      TopRow(report: report("<0.2>", mailbox: 9, handled: 150), rate: 50)],
                               messagesPerSecond: [200, 0], recordsPerSecond: 100, stats: stats)
        var view = TopView()
        view.order = view.order.next
        #expect(view.order == .mailbox && view.ordered(byRate.rows).first?.report.pid == "<0.2>")
        let screen = view.screen(byRate, size: (columns: 40, rows: 4))
        // A header, the figures, a blank line, the table's header: what fits in 4 rows, cut to 40 columns.
        #expect(screen.count == 4 && screen.allSatisfy { $0.count <= 40 })
        #expect(screen[0].hasPrefix("calf top — 3 processes, by mailbox"))
        #expect(view.screen(byRate, size: (columns: 200, rows: 10))[1] == "schedulers 2, run queues [1 0], 200 msgs/s, log 100 records/s, commit p99 1.5 ms")
        #expect(TopView.Order.restarts.next == .rate)
        #expect(TopView.Order(name: "rate") == .rate && TopView.Order(name: nil) == .rate && TopView.Order(name: "msgs/s") == nil && TopView.Order.rate.title == "msgs/s")
    }

    @Test func traceTopAndNamesParse() throws {
        #expect(try ShellLine.parse("trace producer --limit 5") == .trace("producer", limit: 5))
        #expect(try ShellLine.parse("trace <0.4>") == .trace("<0.4>", limit: nil))
        #expect(throws: ShellLine.ParseError.self) { try ShellLine.parse("trace") }
        #expect(throws: ShellLine.ParseError.self) { try ShellLine.parse("trace p --limit 0") }
        #expect(try ShellLine.parse("top") == .top(order: .rate, limit: nil))
        #expect(try ShellLine.parse("names") == .names)
        #expect(throws: ShellLine.ParseError.self) { try ShellLine.parse("top now") }
    }

    @Test func traceLinesPrintTimeDirectionKindPeerAndMessage() throws {
        let event = TraceEvent(direction: "out", kind: "message", peer: "<0.4>", message: "value(3)", at: 3_723_000_456_000)
        #expect(ShellFormat.traceLine(.event(event)) == "01:02:03.000456 >> message <0.4> \"value(3)\"")
        let structured = TraceEvent(direction: "in", kind: "call", peer: nil, message: ["credit": ["amount": 5]], at: 0)
        #expect(ShellFormat.traceLine(.event(structured)) == #"00:00:00.000000 << call {"credit":{"amount":5}}"#)
        #expect(ShellFormat.traceLine(.dropped(12)) == "… 12 events dropped (the shell did not keep up)")
        #expect(ShellFormat.traceLine(.ended("it exited")) == "trace ended: it exited")
    }
}
