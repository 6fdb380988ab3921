import Calf
import Foundation
import Testing

/// `calf shell -c` against a real node on the demo tree, checked against
/// what the node reports of itself.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ShellCommandTests {
    func shell(_ data: String, _ command: String, json: Bool = false) async throws -> String {
        let (status, out, err) = try await runCalf(["shell", "--data", data] + (json ? ["--json"] : []) + ["-c", command])
        #expect(status == 0, "\(command): \(err)")
        return out
    }

    @Test func psInfoAndTreeShowTheLiveNode() async throws {
        try await withDemoNode { data, _ in
            for n in 1...3 { _ = try await shell(data, "send demo/pool/tally-2 {\"add\":{\"_0\":\(n)}}") }

            // ps --json: every process of the tree, with what it did.
            let reports = try JSONDecoder().decode([ProcessReport].self, from: Data(try await shell(data, "ps", json: true).utf8))
            let byName = Dictionary(reports.compactMap { report in report.name.map { ($0, report) } }, uniquingKeysWith: { a, _ in a })
            for name in ["collector", "producer", "clock-log", "spare"] + (1...4).map({ "demo/pool/tally-\($0)" }) {
                #expect(byName[name] != nil, "ps lacks \(name)")
            }
            let tally2 = try #require(byName["demo/pool/tally-2"])
            #expect(tally2.durable && tally2.behavior == "Tally" && tally2.handled == 3)
            #expect(reports.filter { $0.behavior == "Supervisor" }.count == 3)

            // ps --sort msgs: a table, largest first.
            let table = try await shell(data, "ps --sort msgs").split(separator: "\n")
            #expect(table.first?.hasPrefix("PID") == true)
            let column = try #require(table.first?.split(separator: " ", omittingEmptySubsequences: true).firstIndex(of: "MSGS"))
            let counts = table.dropFirst().compactMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[column]) }
            #expect(counts.count == reports.count)
            #expect(counts == counts.sorted(by: >))

            // info: one process, by name and by pid.
            let collector = try #require(byName["collector"])
            let info = try await shell(data, "info collector")
            #expect(info.contains("pid        \(collector.pid)"))
            #expect(info.contains("behavior   Collector"))
            let infoByPid = try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info \(tally2.pid)", json: true).utf8))
            #expect(infoByPid.name == "demo/pool/tally-2")

            // tree --json: the demo tree as started, its pids those of ps.
            let trees = try JSONDecoder().decode([SupervisionReport].self, from: Data(try await shell(data, "tree", json: true).utf8))
            let root = try #require(trees.first)
            #expect(trees.count == 1 && root.id == "demo" && root.strategy == "oneForOne" && root.durable)
            #expect(root.children.map(\.id) == ["pool", "pipeline", "clock-log", "clock", "spare"])
            let pool = try #require(root.children.first?.supervisor.first)
            #expect(pool.strategy == "simpleOneForOne" && pool.children.count == 4)
            #expect(Set(pool.children.compactMap(\.pid)) == Set((1...4).compactMap { byName["demo/pool/tally-\($0)"]?.pid }))
            let pipeline = try #require(root.children[1].supervisor.first)
            #expect(pipeline.strategy == "restForOne" && pipeline.children.map(\.id) == ["collector", "producer"])
            #expect(pipeline.children.first?.pid == collector.pid)

            // tree: drawn.
            let drawing = try await shell(data, "tree")
            #expect(drawing.hasPrefix("demo \(root.pid) [oneForOne, durable"))
            #expect(drawing.contains("├── pool \(pool.pid) [simpleOneForOne, durable"))
            #expect(drawing.contains("│   └── tally "))
            #expect(drawing.contains("└── spare "))

            // Errors: an unknown process, a bad sort.
            let (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "info nobody"])
            #expect(status != 0 && err.contains("no process nobody"))
            let (badStatus, _, badErr) = try await runCalf(["shell", "--data", data, "-c", "ps --sort colour"])
            #expect(badStatus != 0 && badErr.contains("--sort takes mailbox, msgs, memory or restarts"))
        }
    }

    /// `move P N` moves a durable process to another scheduler, where it
    /// keeps its state and takes its mail; a supervisor stays put, and an
    /// unknown process or scheduler is a clear error.
    @Test func moveSendsAProcessToAnotherScheduler() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Tests/Fixtures/steady-demo.yaml").path,
                                             durability: "process", extra: ["--schedulers", "2"])
            defer { _ = node.stop() }
            func info(_ target: String) async throws -> ProcessReport {
                try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info \(target)", json: true).utf8))
            }
            _ = try await shell(data, "send demo/pool/tally-1 {\"add\":{\"_0\":4}}")
            let other = 1 - (try await info("demo/pool/tally-1")).scheduler
            #expect(try await shell(data, "move demo/pool/tally-1 \(other)") == "ok\n")
            #expect(try await info("demo/pool/tally-1").scheduler == other)
            _ = try await shell(data, "send demo/pool/tally-1 {\"add\":{\"_0\":5}}")
            #expect(try await shell(data, "state demo/pool/tally-1") == "{\"total\":9}\n")
            #expect(try await info("demo/pool/tally-1").scheduler == other)

            let reports = try JSONDecoder().decode([ProcessReport].self, from: Data(try await shell(data, "ps", json: true).utf8))
            let supervisor = try #require(reports.first { $0.behavior.lowercased().contains("supervisor") })
            var (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "move \(supervisor.pid) \(1 - supervisor.scheduler)"])
            #expect(status != 0 && err.contains("\(supervisor.pid) stays where it is"), "\(supervisor.behavior): \(err)")
            (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "move nobody 1"])
            #expect(status != 0 && err.contains("no process nobody"), "\(err)")
            (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "move demo/pool/tally-1 7"])
            #expect(status != 0 && err.contains("no scheduler 7 (the node has 2)"), "\(err)")
            (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "move demo/pool/tally-1"])
            #expect(status != 0 && err.contains("move needs a scheduler number"), "\(err)")
        }
    }

    @Test func mailboxKillRestartSuspendAndResumeSteerTheLiveNode() async throws {
        try await withDemoNode { data, node in
            // Suspended, a process keeps its mail and handles none of it.
            #expect(try await shell(data, "suspend demo/pool/tally-1") == "ok\n")
            _ = try await shell(data, "send demo/pool/tally-1 {\"add\":{\"_0\":4}}")
            _ = try await shell(data, "send demo/pool/tally-1 {\"add\":{\"_0\":5}}")
            #expect(try await shell(data, "mailbox demo/pool/tally-1") == "[{\"add\":{\"_0\":4}},{\"add\":{\"_0\":5}}]\n")
            let suspended = try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info demo/pool/tally-1", json: true).utf8))
            #expect(suspended.status == "suspended" && suspended.mailbox == 2 && suspended.handled == 0)
            // Resumed, it catches up.
            #expect(try await shell(data, "resume demo/pool/tally-1") == "ok\n")
            #expect(try await shell(data, "state demo/pool/tally-1") == "{\"total\":9}\n")

            // kill with a reason: the supervisor sees it and restarts the worker.
            let spare = try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info spare", json: true).utf8))
            #expect(try await shell(data, "kill spare told to go") == "ok\n")
            var restarted: SupervisionReport.Child?
            _ = await eventually {
                let trees = try? JSONDecoder().decode([SupervisionReport].self, from: Data((try? await shell(data, "tree", json: true))?.utf8 ?? "".utf8))
                restarted = trees?.first?.children.first { $0.id == "spare" }
                return restarted?.status == "running" && restarted?.pid != spare.pid
            }
            #expect(restarted?.lastExit?.contains("told to go") == true)
            // The node's log (swift-log) says so, with the processes as metadata.
            #expect(node.output.withLock { $0 }.contains("child=spare pid=\(spare.pid)"))

            // restart of a durable process: rebuilt in place, same pid, state kept.
            let before = try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info demo/pool/tally-1", json: true).utf8))
            #expect(try await shell(data, "restart demo/pool/tally-1") == "ok\n")
            #expect(await eventually {
                let after = try? JSONDecoder().decode(ProcessReport.self, from: Data((try? await shell(data, "info demo/pool/tally-1", json: true))?.utf8 ?? "".utf8))
                return after?.restarts == before.restarts + 1 && after?.pid == before.pid
            })
            #expect(try await shell(data, "state demo/pool/tally-1") == "{\"total\":9}\n")

            let (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "kill nobody"])
            #expect(status != 0 && err.contains("no process nobody"))
        }
    }

    @Test func deadLettersAreListedAndRetriedAtMostOnce() async throws {
        try await withDemoNode { data, _ in
            #expect(try await shell(data, "dead") == "no dead letters\n")
            _ = try await shell(data, "send demo/pool/tally-3 {\"poison\":{}}")
            _ = try await shell(data, "send demo/pool/tally-3 {\"add\":{\"_0\":2}}")
            #expect(try await shell(data, "state demo/pool/tally-3") == "{\"total\":2}\n") // it moved on
            func letters() async throws -> [DeadLetterReport] {
                try JSONDecoder().decode([DeadLetterReport].self, from: Data(try await shell(data, "dead demo/pool/tally-3", json: true).utf8))
            }
            let first = try #require(try await letters().first)
            #expect(first.name == "demo/pool/tally-3" && first.failures == 3 && first.message == ["poison": [:]])
            #expect(first.error.contains("Tally refuses poison"))
            let rows = try await shell(data, "dead").split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(rows.first?.prefix(3) == ["ID", "PID", "NAME"])
            #expect(rows.dropFirst().contains { $0.prefix(4) == ["\(first.id)", first.pid, "demo/pool/tally-3", "3"] })

            // Retried: taken in again as a new message (which fails again and is set aside anew).
            #expect(try await shell(data, "dead retry \(first.id)") == "ok\n")
            var again: [DeadLetterReport] = []
            #expect(await eventually {
                again = (try? await letters()) ?? []
                return again.count == 1 && again[0].id != first.id
            })
            // The old one is gone: a second retry of it is refused.
            let (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "dead retry \(first.id)"])
            #expect(status != 0 && err.contains("no dead letter \(first.id)"))
        }
    }

    @Test func journalShowsAProcesssHistory() async throws {
        try await withDemoNode { data, _ in
            _ = try await shell(data, "send demo/pool/tally-4 {\"add\":{\"_0\":2}} --key first")
            _ = try await shell(data, "send demo/pool/tally-4 {\"add\":{\"_0\":5}}")
            #expect(try await shell(data, "state demo/pool/tally-4") == "{\"total\":7}\n")
            func entries(_ options: String = "") async throws -> [JournalEntry] {
                try JSONDecoder().decode([JournalEntry].self, from: Data(try await shell(data, "journal demo/pool/tally-4" + options, json: true).utf8))
            }
            let all = try await entries()
            #expect(all.first?.kind == "spawned")
            let accepted = all.filter { $0.kind == "accepted" }
            #expect(accepted.map(\.message) == [["add": ["_0": 2]], ["add": ["_0": 5]]])
            #expect(accepted.first?.key == "first")
            // Every accepted message is covered by a later handled record.
            let handled = all.filter { $0.kind == "handled" }.flatMap { $0.handled ?? [] }
            #expect(Set(accepted.map(\.seq)).isSubset(of: Set(handled)))
            #expect(all.map(\.seq) == all.map(\.seq).sorted())
            // --from and --limit.
            let second = try #require(accepted.last)
            let tail = try await entries(" --from \(second.seq) --limit 1")
            #expect(tail.map(\.seq) == [second.seq])
            #expect(try await shell(data, "journal demo/pool/tally-4 --limit 2").split(separator: "\n").count == 3)
        }
    }

    @Test func statsAddsUpToWhatPsShows() async throws {
        try await withDemoNode { data, _ in
            _ = try await shell(data, "send demo/pool/tally-1 {\"add\":{\"_0\":1}}")
            _ = try await shell(data, "suspend clock-log")
            // One of the two is a move (the other finds it there already).
            for scheduler in 0..<2 { _ = try await runCalf(["shell", "--data", data, "-c", "move demo/pool/tally-1 \(scheduler)"]) }
            let processes = try JSONDecoder().decode([ProcessReport].self, from: Data(try await shell(data, "ps", json: true).utf8))
            let stats = try JSONDecoder().decode(NodeStats.self, from: Data(try await shell(data, "stats", json: true).utf8))
            #expect(stats.schedulers.map(\.processes).reduce(0, +) == processes.count)
            #expect(stats.processesByStatus.values.reduce(0, +) == processes.count)
            #expect(stats.processesByStatus["suspended"] == 1)
            let log = try #require(stats.log)
            #expect(log.commits >= 1 && log.records >= 2 && log.usedBytes > 0 && log.mapBytes >= log.usedBytes)
            #expect(log.commitP50Milliseconds != nil)
            let text = try await shell(data, "stats")
            #expect(text.hasPrefix("SCHEDULER"))
            #expect(text.contains("processes: 1 suspended"))
            #expect(text.contains("\nlog: ") && text.contains("records/s, commit p50"))
            #expect(stats.processesMoved >= 1)
            #expect(text.contains("STATE") && text.contains("\nmoves: ") && text.contains(" processes moved between schedulers since start"))
        }
    }

    @Test func stateAtASeqShowsThePastBalanceTheJournalRecords() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Supervisors/bank.yaml").path, durability: "process")
            defer { _ = node.stop() }
            for n in 1...3 {
                _ = try await shell(data, "send teller {\"transfer\":{\"from\":3,\"to\":7,\"amount\":25}} --key t-\(n)")
            }
            var entries: [JournalEntry] = []
            #expect(await eventually {
                entries = (try? JSONDecoder().decode([JournalEntry].self, from: Data(try await shell(data, "journal account-3", json: true).utf8))) ?? []
                return entries.filter { $0.kind == "handled" }.count == 3
            })
            #expect(entries.filter { $0.kind == "accepted" }.map(\.message) == Array(repeating: ["debit": ["amount": 25]], count: 3))
            let handled = entries.filter { $0.kind == "handled" }.map(\.seq)
            // Each point of the history: the balance after the debits handled by then.
            #expect(try await shell(data, "state account-3 --at \(handled[0] - 1)") == "{\"balance\":1000}\n")
            for (index, seq) in handled.enumerated() {
                #expect(try await shell(data, "state account-3 --at \(seq)") == "{\"balance\":\(1000 - 25 * (index + 1))}\n")
            }
            // The live process was not touched.
            #expect(try await shell(data, "state account-3") == "{\"balance\":925}\n")
            let report = try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info account-3", json: true).utf8))
            #expect(report.restarts == 0 && report.handled == 3)
            // Before it existed.
            let (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "state account-3 --at 1"])
            #expect(status != 0 && err.contains("it was spawned at"), "\(err)")
        }
    }

    @Test func helpNeedsNoNode() async throws {
        let (status, out, _) = try await runCalf(["shell", "--data", "/nonexistent", "-c", "help state"])
        #expect(status == 0 && out.hasPrefix("state P [--at SEQ]"))
        let (badStatus, _, err) = try await runCalf(["shell", "--data", "/nonexistent", "-c", "help nope"])
        #expect(badStatus != 0 && err.contains("no command 'nope'"))
    }

    @Test func calfJournalReadsTheDataDirectoryBesideAndWithoutTheNode() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Supervisors/bank.yaml").path, durability: "process")
            _ = try await shell(data, "send teller {\"transfer\":{\"from\":3,\"to\":7,\"amount\":25}} --key t-1")
            #expect(await eventually { (try? await shell(data, "state account-3")) == "{\"balance\":975}\n" })
            func offline(_ arguments: [String]) async throws -> [JournalEntry] {
                let (status, out, err) = try await runCalf(["journal", "--data", data, "--json"] + arguments)
                #expect(status == 0, "\(err)")
                return try JSONDecoder().decode([JournalEntry].self, from: Data(out.utf8))
            }
            // Beside the running node: the same history the node itself shows.
            let live = try JSONDecoder().decode([JournalEntry].self, from: Data(try await shell(data, "journal account-3", json: true).utf8))
            let beside = try await offline(["account-3"])
            #expect(beside.map(\.seq) == live.map(\.seq))
            #expect(beside.map(\.message) == live.map(\.message))
            #expect(beside.contains { $0.message == ["debit": ["amount": 25]] })
            #expect(await node.stop() == 0)
            // Without it.
            let stopped = try await offline(["account-3"])
            #expect(stopped.map(\.seq).starts(with: beside.map(\.seq)))
            let all = try await offline([])
            #expect(all.contains { $0.pid == beside.first?.pid && $0.kind == "spawned" })
            #expect(all.contains { $0.message == ["transfer": ["amount": 25, "from": 3, "to": 7]] && $0.key == "t-1" })
            let (status, _, err) = try await runCalf(["journal", "--data", data, "nobody"])
            #expect(status != 0 && err.contains("no durable process nobody"))
        }
    }
}

/// The shell's commands README.md lists that the other suites leave out:
/// every sort of `ps`, `kill` without a reason and with `normal` or
/// `shutdown`, `restart` of a transient child, `names`, and every command
/// the offline shell refuses.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ShellCommandCoverageTests {
    func shell(_ data: String, _ command: String, json: Bool = false) async throws -> String {
        let (status, out, err) = try await runCalf(["shell", "--data", data] + (json ? ["--json"] : []) + ["-c", command])
        #expect(status == 0, "\(command): \(err)")
        return out
    }

    func reports(_ data: String, _ command: String = "ps") async throws -> [ProcessReport] {
        try JSONDecoder().decode([ProcessReport].self, from: Data(try await shell(data, command, json: true).utf8))
    }

    func spare(_ data: String) async throws -> SupervisionReport.Child? {
        let trees = try JSONDecoder().decode([SupervisionReport].self, from: Data(try await shell(data, "tree", json: true).utf8))
        return trees.first?.children.first { $0.id == "spare" }
    }

    @Test func psSortsByEachOrder() async throws {
        try await withDemoNode { data, _ in
            for n in 1...5 { _ = try await shell(data, #"send demo/pool/tally-3 {"add":{"_0":\#(n)}}"#) }
            _ = try await shell(data, "suspend demo/pool/tally-4")
            for n in 1...3 { _ = try await shell(data, #"send demo/pool/tally-4 {"add":{"_0":\#(n)}}"#) }
            _ = try await shell(data, "restart demo/pool/tally-2")
            let orders: [(String, (ProcessReport) -> Int)] = [
                ("mailbox", { $0.mailbox }), ("msgs", { Int($0.handled) }), ("memory", { $0.memory }), ("restarts", { Int($0.restarts) }),
            ]
            for (order, key) in orders {
                let sorted = try await reports(data, "ps --sort \(order)")
                #expect(sorted.map(key) == sorted.map(key).sorted(by: >), "ps --sort \(order): \(sorted.map(key))")
                #expect(sorted.count == 12)
            }
            // The leaders are the ones made so.
            #expect(try await reports(data, "ps --sort mailbox").first?.name == "demo/pool/tally-4")
            #expect(try await reports(data, "ps --sort restarts").first?.name == "demo/pool/tally-2")
        }
    }

    @Test func killWithoutAReasonOrWithNormalOrShutdown() async throws {
        try await withDemoNode { data, _ in
            // `normal` is ignored by a process that does not trap exits (Erlang's exit/2).
            let first = try #require(try await spare(data)?.pid)
            #expect(try await shell(data, "kill spare normal") == "ok\n")
            #expect(try await spare(data)?.pid == first)
            // No reason: killed; its supervisor restarts it.
            #expect(try await shell(data, "kill spare") == "ok\n")
            var now: SupervisionReport.Child?
            #expect(await eventually { now = try? await spare(data); return now?.pid != nil && now?.pid != first })
            #expect(now?.lastExit == "killed" && now?.restarts == 1, "\(String(describing: now))")
            // `shutdown`: it ends, and (permanent) is restarted again.
            let second = try #require(now?.pid)
            #expect(try await shell(data, "kill spare shutdown") == "ok\n")
            #expect(await eventually { now = try? await spare(data); return now?.pid != nil && now?.pid != second })
            #expect(now?.lastExit == "shutdown" && now?.restarts == 2, "\(String(describing: now))")
        }
    }

    @Test func restartOfATransientChildIsItsSupervisorsRestart() async throws {
        try await withDemoNode { data, _ in
            let before = try #require(try await spare(data))
            #expect(try await shell(data, "restart spare") == "ok\n")
            var after: SupervisionReport.Child?
            #expect(await eventually { after = try? await spare(data); return after?.pid != nil && after?.pid != before.pid })
            #expect(after?.restarts == before.restarts + 1)
        }
    }

    @Test func namesListsTheRegisteredProcesses() async throws {
        try await withDemoNode { data, _ in
            let text = try await shell(data, "names")
            let processes = try await reports(data)
            for report in processes {
                guard let name = report.name else { continue }
                #expect(text.contains(name) && text.contains(report.pid), "names lacks \(name) \(report.pid): \(text)")
            }
            #expect(text.split(separator: "\n").count >= processes.compactMap(\.name).count)
        }
    }

    @Test func passivateTakesADurableProcessOutOfRAMAndACommandBringsItBack() async throws {
        try await withDemoNode { data, _ in
            _ = try await shell(data, #"send demo/pool/tally-2 {"add":{"_0":4}}"#)
            #expect(try await shell(data, "state demo/pool/tally-2") == "{\"total\":4}\n")
            let before = try #require(try await reports(data).first { $0.name == "demo/pool/tally-2" })

            #expect(try await shell(data, "passivate demo/pool/tally-2") == "ok\n")
            #expect(try await shell(data, "passivate demo/pool/tally-2") == "ok (passivated already)\n")
            // `ps` lists it as passivated, with what it had handled; `ps --active` leaves it out.
            let out = try #require(try await reports(data).first { $0.pid == before.pid })
            #expect(out.status == "passivated" && out.handled == before.handled && out.name == "demo/pool/tally-2")
            #expect(!(try await reports(data, "ps --active")).contains { $0.pid == before.pid })

            // Mail brings it back, with its state (the supervisor's link to it carried over).
            _ = try await shell(data, #"send demo/pool/tally-2 {"add":{"_0":5}}"#)
            #expect(try await shell(data, "state demo/pool/tally-2") == "{\"total\":9}\n")
            let back = try JSONDecoder().decode(ProcessReport.self, from: Data(try await shell(data, "info demo/pool/tally-2", json: true).utf8))
            #expect(back.pid == before.pid && back.status != "passivated")
            let pool = try #require(try await poolSupervisorPid(data))
            #expect(back.links.contains(pool), "links \(back.links), the pool's supervisor \(pool)")

            // A transient process cannot leave RAM; nor can a name nobody has.
            let (status, _, err) = try await runCalf(["shell", "--data", data, "-c", "passivate spare"])
            #expect(status != 0 && err.contains("no durable process spare"), "\(err)")
        }
    }

    /// The pid of the supervisor the demo's pool workers are linked to.
    func poolSupervisorPid(_ data: String) async throws -> String? {
        let trees = try JSONDecoder().decode([SupervisionReport].self, from: Data(try await shell(data, "tree", json: true).utf8))
        return trees.first?.children.first { $0.id == "pool" }?.pid
    }

    @Test func theOfflineShellRefusesEveryCommandThatNeedsALiveNode() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Tests/Fixtures/steady-demo.yaml").path, durability: "process")
            #expect(await node.stop() == 0)
            let commands = [
                #"send demo/pool/tally-1 {"add":{"_0":1}}"#, #"call demo/pool/tally-1 {"get":{}}"#, "kill demo/pool/tally-1",
                "restart demo/pool/tally-1", "suspend demo/pool/tally-1", "resume demo/pool/tally-1", "passivate demo/pool/tally-1", "move demo/pool/tally-1 1", "dead retry 1",
                "trace demo/pool/tally-1", "top", "tree",
            ]
            for command in commands {
                let (status, _, err) = try await runCalf(["shell", "--data", data, "--offline", "-c", command])
                let verb = command.hasPrefix("dead retry") ? "dead retry" : String(command.split(separator: " ")[0])
                #expect(status == 1 && err.contains("\(verb) needs a running node"), "\(command): \(status) \(err)")
            }
        }
    }
}
