import CalfControl
import CalfShell
import CalfStore
import Foundation
import Synchronization
import Testing

/// The bank under repeated `kill -9`: every transfer acknowledged is applied
/// exactly once, whatever the moment of the kills.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BankCrashTests {
    let tree = packageRoot.appendingPathComponent("Supervisors/bank.yaml").path

    @Test func theShellSendsCallsAndReadsState() async throws {
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: tree)
            defer { _ = node.stop() }
            let transfer = #"send teller {"transfer":{"from":3,"to":7,"amount":25}} --key t-1"#
            var (status, out, _) = try await runShell(dir, [transfer, transfer])
            #expect(status == 0)
            #expect(out == "ok\nok duplicate\n")
            #expect(await eventually { (try? await runShell(dir, ["state account-7"]).1) == "{\"balance\":1025}\n" })
            (status, out, _) = try await runShell(dir, ["state account-3", "call account-3 {\"balance\":{}}", "state teller"])
            #expect(status == 0)
            #expect(out == "{\"balance\":975}\n975\n{\"transfers\":1}\n")
            var err: String
            (status, _, err) = try await runShell(dir, ["state nobody"])
            #expect(status == 1)
            #expect(err.contains("no durable process nobody"))
            (status, _, err) = try await runShell(dir, ["send teller {\"transfer\":{\"from\":3}}"])
            #expect(status == 1)
            #expect(err.contains("not a message of Teller"))
            (status, _, _) = try await runShell(dir, ["bogus"])
            #expect(status != 0)
            let mode = try FileManager.default.attributesOfItem(atPath: dir + "/node.sock")[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
        }
    }

    /// Checkpoint rounds every 30 ms and no history kept: the kills land
    /// in the middle of snapshots, scan-start moves and log drops too.
    /// Both durability levels survive `kill -9` of the node.
    @Test(arguments: ["fsync", "process"])
    func everyAcknowledgedTransferIsAppliedExactlyOnceAcrossKill9(durability: String) async throws {
        try await bankUnderKill9(durability: durability, schedulers: nil, moving: false)
    }

    /// The same while an operator keeps moving the teller and the accounts
    /// between three schedulers (`move P N`, as the balancer does on its
    /// own): their mail follows them through the journal's release
    /// channels, their outcomes commit in order, checkpoint rounds see
    /// every one of them, and twenty kills lose and repeat nothing.
    @Test func everyTransferIsAppliedOnceWhileTheProcessesKeepMoving() async throws {
        try await bankUnderKill9(durability: "process", schedulers: 3, moving: true)
    }

    /// The same with accounts and the teller leaving RAM whenever they are
    /// idle for 2 ms (passivation) and coming back with their next
    /// transfer, over and over: the kills land on passivations, on
    /// processes brought back and on the snapshots written for them, and
    /// lose and repeat nothing.
    @Test func everyTransferIsAppliedOnceWhileIdleProcessesLeaveRAM() async throws {
        try await bankUnderKill9(durability: "process", schedulers: nil, moving: false, passivateAfter: 0.002)
    }

    /// The same at issue 20's `passivateAfter` of 100 ms, the transfers
    /// moving among four accounts at a time (the four change every 500
    /// ms), so that the other twelve sit idle long enough to leave RAM.
    @Test func everyTransferIsAppliedOnceWhileAccountsIdleFor100msLeaveRAM() async throws {
        try await bankUnderKill9(durability: "process", schedulers: nil, moving: false, passivateAfter: 0.1, rotating: true)
    }

    private func bankUnderKill9(durability: String, schedulers: Int?, moving: Bool, passivateAfter: Double? = nil, rotating: Bool = false) async throws {
        let options = ["--checkpoint-interval", "30", "--history", "0"] + (schedulers.map { ["--schedulers", "\($0)"] } ?? [])
            + (passivateAfter.map { ["--passivate-after", "\($0)"] } ?? [])
        try await withTemporaryDataDirectory { dir in
            // More than the clients can send: they take transfers until the twenty kills are done.
            let limit = 200_000
            let began = Date()
            // Each transfer made when a client first takes it (rotating: among the four accounts of the
            // moment), kept for a retry and for the balances expected at the end.
            let made = Locked<[Int: (from: Int, to: Int, amount: Int)]>([:])
            let transfer: @Sendable (Int) -> (from: Int, to: Int, amount: Int) = { index in
                made.withLock { made in
                    if let transfer = made[index] { return transfer }
                    var generator = SystemRandomNumberGenerator()
                    let group = rotating ? Int(Date().timeIntervalSince(began) / 0.5) % 4 : 0
                    let accounts = rotating ? Array(4 * group..<4 * group + 4) : Array(0..<16)
                    let from = Int.random(in: 0..<accounts.count, using: &generator)
                    let to = (from + Int.random(in: 1..<accounts.count, using: &generator)) % accounts.count
                    let transfer = (accounts[from], accounts[to], Int.random(in: 1...100, using: &generator))
                    made[index] = transfer
                    return transfer
                }
            }
            let node = Locked<NodeProcess?>(try await NodeProcess(data: dir, tree: tree, durability: durability, extra: options))
            // Past this the clients give up and the test fails instead of hanging.
            let deadline = Date().addingTimeInterval(180)
            let clients = RetryingClients(count: 6, dataDirectory: dir, limit: limit, deadline: deadline) { index in
                let transfer = transfer(index)
                // Sent again with the same key until the node says ok (or ok duplicate).
                return .send(to: "teller", message: ["transfer": ["from": .integer(Int64(transfer.from)), "to": .integer(Int64(transfer.to)),
                                                                  "amount": .integer(Int64(transfer.amount))]],
                             key: "transfer-\(index)")
            }
            let mover = moving ? MovingClient(dataDirectory: dir, targets: ["teller"] + (0..<16).map { "account-\($0)" }, schedulers: schedulers ?? 1) : nil
            var kills = 0
            // Kills that interrupted live traffic: transfers were acknowledged since the previous kill.
            var killsMidway = 0
            // Kills that interrupted moves: processes were moved since the previous kill.
            var killsWhileMoving = 0
            var doneAtLastKill = 0
            var movedAtLastKill = 0
            // Samples of `ps` that found processes passivated (with passivateAfter).
            var passivatedSeen = 0
            while kills < 20, Date() < deadline {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...350)))
                if passivateAfter != nil, let client = try? ControlClient(dataDirectory: dir),
                   case .success(.array(let reports))? = try? client.request(.ps(order: .pid)),
                   reports.contains(where: { $0["status"] == .string("passivated") }) {
                    passivatedSeen += 1
                }
                do {
                    let done = clients.answered.count
                    let moved = mover?.moved ?? 0
                    guard let running = node.withLock({ $0 }) else { continue }
                    await running.killHard()
                    #expect(!running.process.isRunning)
                    kills += 1
                    if done > doneAtLastKill { killsMidway += 1 }
                    if moved > movedAtLastKill { killsWhileMoving += 1 }
                    doneAtLastKill = done
                    movedAtLastKill = moved
                    node.withLock { $0 = nil }
                    let restarted = try await NodeProcess(data: dir, tree: tree, durability: durability, extra: options)
                    node.withLock { $0 = restarted }
                }
            }
            // A little more traffic after the last restart, then the clients finish what they took.
            try await Task.sleep(for: .milliseconds(200))
            await mover?.stop()
            let sent = clients.stop()
            let finished = await clients.finish()
            #expect(kills == 20, "only \(kills) kills within the deadline")
            #expect(killsMidway >= 15, "only \(killsMidway) of the kills landed while transfers were acknowledged")
            if let mover {
                #expect(mover.moved >= 200, "only \(mover.moved) moves (\(mover.refused) refused)")
                #expect(killsWhileMoving >= 15, "only \(killsWhileMoving) of the kills landed while processes moved (\(mover.moved) moves, \(mover.refused) refused)")
            }
            if passivateAfter != nil {
                print("bank with passivation: \(passivatedSeen) of \(kills) looks found processes passivated")
                #expect(passivatedSeen >= 5, "only \(passivatedSeen) of 20 looks found a process passivated")
            }
            #expect(finished, "the clients did not finish within the deadline")
            #expect(clients.answered == Set(0..<sent), "transfers never acknowledged")
            var expected = Array(repeating: 1000, count: 16)
            for transfer in (0..<sent).map(transfer) {
                expected[transfer.from] -= transfer.amount
                expected[transfer.to] += transfer.amount
            }
            let client = try ControlClient(dataDirectory: dir)
            func balances() throws -> [Int] {
                try (0..<16).map { account in
                    let state = try client.request(.state(of: "account-\(account)", at: nil))
                    guard case .success(let value) = state, case .integer(let balance)? = value["balance"] else { return .min }
                    return Int(balance)
                }
            }
            #expect(await eventually(within: 30) { (try? balances()) == expected })
            let final = try balances()
            #expect(final == expected)
            #expect(final.reduce(0, +) == 16_000)
            let teller = try client.request(.state(of: "teller", at: nil))
            #expect(teller == .success(["transfers": .integer(Int64(sent))]), "each transfer handled exactly once")
            let last = node.withLock { $0 }
            #expect(await last?.stop() == 0)
            // The rounds did run: the log was dropped up to its last record,
            // which stays so that seqs go on from there.
            let journal = try Journal(environment: StoreEnvironment(path: dir, readOnly: true))
            var kept: [UInt64] = []
            try journal.scan(from: 1) { seq, _ in
                kept.append(seq)
                return kept.count < 100
            }
            #expect(kept.first.map { $0 > 1000 } == true, "checkpoint rounds dropped the log's start (kept \(kept.prefix(3)))")
            #expect(kept.last == journal.lastSeq)
            journal.environment.close()
        }
    }
}

/// Waits until `condition` holds or `seconds` pass.
func eventually(within seconds: Double = 10, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

@Suite(.timeLimit(.minutes(5))) struct ControlSocketTests {
    let tree = packageRoot.appendingPathComponent("Supervisors/bank.yaml").path

    /// SIGINT and SIGTERM stop the node in order: exit status 0, socket removed, state kept.
    @Test func signalsStopTheNodeInOrder() async throws {
        try await withTemporaryDataDirectory { dir in
            for signal in [SIGINT, SIGTERM] {
                let node = try await NodeProcess(data: dir, tree: tree, durability: "process")
                let (status, _, _) = try await runShell(dir, [#"send account-1 {"credit":{"amount":5}}"#])
                #expect(status == 0)
                #expect(await node.stop(signal) == 0)
                #expect(node.output.withLock { $0 }.contains("stopping"))
                #expect(!FileManager.default.fileExists(atPath: dir + "/node.sock"))
            }
            let node = try await NodeProcess(data: dir, tree: tree, durability: "process")
            defer { _ = node.stop() }
            #expect(try await runShell(dir, ["state account-1"]).1 == "{\"balance\":1010}\n")
        }
    }

    /// Garbage on the socket gets an error reply (or a closed connection)
    /// and the node goes on answering a well-behaved client.
    @Test func malformedFramesGetErrorsAndTheNodeKeepsServing() async throws {
        try await withTemporaryDataDirectory { dir in
            let node = try await NodeProcess(data: dir, tree: tree, durability: "process")
            defer { _ = node.stop() }
            func raw(_ bytes: [UInt8]) throws -> [UInt8] {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                let path = Array((dir + "/node.sock").utf8)
                withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path + [0]) }
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                guard connected == 0 else { throw NodeProcess.Failure(description: "cannot connect") }
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(fd, Int32(SHUT_WR))
                var reply: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if got <= 0 { break }
                    reply += buffer[0..<got]
                }
                return reply
            }
            func frame(_ text: String) -> [UInt8] {
                let body = Array(text.utf8)
                let n = UInt32(body.count)
                return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + body
            }
            let notJSON = String(decoding: try raw(frame("hello")), as: UTF8.self)
            #expect(notJSON.contains("malformed request"))
            let wrongVersion = String(decoding: try raw(frame(#"{"v":9,"cmd":"state","target":"teller"}"#)), as: UTF8.self)
            #expect(wrongVersion.contains("protocol version 9"))
            let tooLarge = String(decoding: try raw([0x7f, 0xff, 0xff, 0xff]), as: UTF8.self)
            #expect(tooLarge.contains("over the"))
            let unknown = String(decoding: try raw(frame(#"{"v":2,"cmd":"format","target":"teller"}"#)), as: UTF8.self)
            #expect(unknown.contains("unknown command"))
            _ = try raw([0, 0])  // a truncated header, then the client goes away
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<200 {
                _ = try raw((0..<Int.random(in: 1..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            }
            let client = try ControlClient(dataDirectory: dir)
            let reply = try client.request(.state(of: "account-0", at: nil))
            #expect(reply == .success(["balance": 1000]))
        }
    }
}
