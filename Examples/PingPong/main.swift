// Two processes pass a ball back and forth; the node reports when they are done.
//
//     swift run -c release PingPong [rounds]
import Calf

/// A player hits the ball back until no rounds are left, then reports to `done`.
struct Player: Behavior {
    enum Message: Sendable {
        case ball(left: Int, from: Address<Message>, done: Address<String>)
    }
    typealias State = Void

    let name: String

    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        switch message {
        case .ball(0, _, let done):
            context.send("\(name) \(context.pid) played the last ball", to: done)
        case .ball(let left, let from, let done):
            context.send(.ball(left: left - 1, from: context.address, done: done), to: from)
        }
    }
}

let rounds = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 1_000_000
let node = try Node()
// Both players on scheduler 0: a message between them never leaves the thread.
let ping = try await node.spawn(Player(name: "ping"), on: 0)
let pong = try await node.spawn(Player(name: "pong"), on: 0)
let (done, results) = try await node.receiver(of: String.self)

let clock = ContinuousClock()
let start = clock.now
node.send(.ball(left: rounds, from: pong, done: done), to: ping)
for await line in results {
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(line)
    print("\(rounds) messages in \(elapsed): \(Int(Double(rounds) / seconds)) msgs/s")
    break
}
try await node.shutdown()
