import Calf
import CalfControl
import CalfShell
import Foundation
import Testing

/// Effects across `kill -9`: each order to `Stamper` asks for one effect
/// that appends a line to a file and takes 30–120 ms. Twenty kills later
/// every order was stamped, each completion was taken once, and every run of
/// an effect (the first, and those after a kill) carried the same key.
@Suite(.serialized, .timeLimit(.minutes(5))) struct EffectCrashTests {
    @Test func everyEffectCompletesOnceWithOneKeyAcrossTwentyKills() async throws {
        try await withTemporaryDataDirectory { dir in
            let log = dir + "/stamps.log"
            let tree = dir + "/tree.yaml"
            try "supervisor: stamps\nchildren:\n  - worker: stamper\n    behavior: Stamper\n    config: { log: \"\(log)\" }\n"
                .write(toFile: tree, atomically: true, encoding: .utf8)
            let data = dir + "/data"
            let options = ["--checkpoint-interval", "50"]
            let node = Locked<NodeProcess?>(try await NodeProcess(data: data, tree: tree, durability: "process", extra: options))
            let deadline = Date().addingTimeInterval(180)
            let clients = RetryingClients(count: 4, dataDirectory: data, deadline: deadline) { id in
                ControlRequest.call(to: "stamper", message: ["stamp": ["id": .integer(Int64(id))]], timeoutMilliseconds: 2000)
            }
            var kills = 0
            while kills < 20, Date() < deadline {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...300)))
                guard let running = node.withLock({ $0 }) else { continue }
                await running.killHard()
                kills += 1
                node.withLock { $0 = nil }
                let restarted = try await NodeProcess(data: data, tree: tree, durability: "process", extra: options)
                node.withLock { $0 = restarted }
            }
            let taken = clients.stop()
            #expect(await clients.finish(), "the clients did not finish within the deadline")
            let ids = Set(0..<taken)
            #expect(kills == 20)
            #expect(clients.answered == ids, "orders never answered")

            let client = try ControlClient(dataDirectory: data)
            struct Stamps: Decodable { var orders: [Int]; var pending: [String: Int]; var stamped: [String: String]; var twice: [String]; var failed: [String] }
            func state() -> Stamps? {
                guard let text = try? client.text(.state(of: "stamper", at: nil)) else { return nil }
                return try? JSONDecoder().decode(Stamps.self, from: Data(text.utf8))
            }
            let done = await eventually(within: 30) { state().map { $0.stamped.count >= ids.count } ?? false }
            #expect(done, "\(state().map { "stamped \($0.stamped.count) of \(ids.count), pending \($0.pending.count)" } ?? "no state")")
            let final = try #require(state())
            #expect(Set(final.orders) == ids && final.orders.count == ids.count)
            #expect(Set(final.stamped.keys) == Set(ids.map(String.init)), "every order stamped")
            #expect(final.pending.isEmpty)
            #expect(final.twice.isEmpty, "completions taken twice: \(final.twice.prefix(10))")
            #expect(final.failed.isEmpty, "\(final.failed.prefix(5))")

            // Every run of a stamp, the first and those after kills, had its effect's one key.
            let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
            var keysByOrder: [String: Set<String>] = [:]
            for fields in lines where fields.count == 3 { keysByOrder[String(fields[0]), default: []].insert(String(fields[1])) }
            let runs = Dictionary(grouping: lines.filter { $0.count == 3 }, by: { String($0[0]) }).mapValues(\.count)
            for id in ids.map(String.init) {
                #expect(keysByOrder[id] == [final.stamped[id] ?? "?"], "order \(id): keys \(keysByOrder[id] ?? [])")
            }
            // With stamps under way at most kills, some ran again after a start (at least once, taken once).
            let ranAgain = runs.values.filter { $0 > 1 }.count
            #expect(ranAgain >= 1, "no stamp ran twice in \(kills) kills: the kills never caught one under way")
            let last = node.withLock { $0 }
            #expect(await last?.stop() == 0)
        }
    }
}
