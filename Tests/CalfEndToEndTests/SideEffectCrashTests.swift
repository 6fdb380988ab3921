import Calf
import CalfControl
import CalfShell
import Foundation
import Testing

/// Effectively once across `kill -9`, for everything a handler can do at
/// once: each call to `Orders` spawns a named durable child, arms a one-shot
/// timer and answers. Twenty kills later each child exists once, each timer
/// fired once, and every call that was answered kept its change.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SideEffectCrashTests {
    @Test func childrenTimersAndRepliesSurviveTwentyKills() async throws {
        try await withTemporaryDataDirectory { dir in
            let tree = dir + "/tree.yaml"
            try "supervisor: shop\nchildren:\n  - worker: orders\n    behavior: Orders\n".write(toFile: tree, atomically: true, encoding: .utf8)
            let data = dir + "/data"
            let options = ["--checkpoint-interval", "50"]
            let node = Locked<NodeProcess?>(try await NodeProcess(data: data, tree: tree, durability: "process", extra: options))
            let deadline = Date().addingTimeInterval(180)
            // Called again until answered: a call whose answer was lost to a kill may have been taken.
            let clients = RetryingClients(count: 4, dataDirectory: data, deadline: deadline) { id in
                ControlRequest.call(to: "orders", message: ["place": ["id": .integer(Int64(id))]], timeoutMilliseconds: 2000)
            }
            var kills = 0
            var answeredAtLastKill = 0
            var killsMidway = 0
            while kills < 20, Date() < deadline {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...300)))
                let answeredNow = clients.answered.count
                guard let running = node.withLock({ $0 }) else { continue }
                await running.killHard()
                kills += 1
                if answeredNow > answeredAtLastKill { killsMidway += 1 }
                answeredAtLastKill = answeredNow
                node.withLock { $0 = nil }
                let restarted = try await NodeProcess(data: data, tree: tree, durability: "process", extra: options)
                node.withLock { $0 = restarted }
            }
            let placedByClients = clients.stop()
            let finished = await clients.finish()
            #expect(kills == 20)
            #expect(killsMidway >= 15, "only \(killsMidway) kills interrupted answered calls")
            #expect(finished, "the clients did not finish within the deadline")
            let ids = Set(0..<placedByClients)
            #expect(clients.answered == ids, "calls never answered")

            // Every order once, every timer fired once (they come 300 ms after their order).
            let client = try ControlClient(dataDirectory: data)
            func state() -> (placed: [Int], fired: [Int])? {
                guard let text = try? client.text(.state(of: "orders", at: nil)),
                      let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [Int]] else { return nil }
                return (object["placed"] ?? [], object["fired"] ?? [])
            }
            let fired = await eventually(within: 30) { state().map { $0.fired.count >= ids.count } ?? false }
            #expect(fired, "\(state().map { "placed \($0.placed.count), fired \($0.fired.count), missing \(Set($0.placed).subtracting($0.fired).sorted().prefix(20))" } ?? "no state")")
            let final = try #require(state())
            #expect(final.placed.count == ids.count && Set(final.placed) == ids, "placed \(final.placed.count) for \(ids.count) orders")
            #expect(final.fired.count == ids.count && Set(final.fired) == ids, "fired \(final.fired.count) for \(ids.count) orders")
            // Each child once, by its name, alive.
            let reports = try client.request(.ps(order: .pid), as: [ProcessReport].self).get()
            let items = reports.compactMap(\.name).filter { $0.hasPrefix("orders/item-") }
            #expect(items.count == ids.count && Set(items) == Set(ids.map { "orders/item-\($0)" }), "\(items.count) children for \(ids.count) orders; missing \(Set(ids.map { "orders/item-\($0)" }).subtracting(items).sorted().prefix(10)); doubled \(items.count - Set(items).count)")
            #expect(reports.filter { $0.name?.hasPrefix("orders/item-") == true }.allSatisfy { $0.durable && $0.status != "quarantined" })
            let last = node.withLock { $0 }
            #expect(await last?.stop() == 0)
        }
    }
}
