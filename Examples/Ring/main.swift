// A ring of processes passes a token around, Joe Armstrong's classic exercise.
//
//     swift run -c release Ring [processes] [laps]
import Calf

/// One member of the ring: forwards the token to the next member.
struct Member: Behavior {
    enum Message: Sendable {
        case next(Address<Message>)
        case token(hops: Int)
    }
    typealias State = Address<Message>?

    /// Where the member that sees the last hop reports.
    let done: Address<Int>

    func initialState() -> State { nil }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .next(let next):
            state = next
        case .token(let hops) where hops == 0:
            context.send(hops, to: done)
        case .token(let hops):
            guard let next = state else { throw RingError.notClosed(context.pid) }
            context.send(.token(hops: hops - 1), to: next)
        }
    }
}

enum RingError: Error { case notClosed(Pid) }

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let size = arguments.first ?? 10_000
let laps = arguments.dropFirst().first ?? 100

let node = try Node(schedulers: 1)
let (done, finished) = try await node.receiver(of: Int.self)

// Spawn the members, then close the ring: each learns the next one.
var members: [Address<Member.Message>] = []
for _ in 0..<size { members.append(try await node.spawn(Member(done: done))) }
for (index, member) in members.enumerated() {
    node.send(.next(members[(index + 1) % size]), to: member)
}

let clock = ContinuousClock()
let start = clock.now
node.send(.token(hops: size * laps), to: members[0])
for await _ in finished { break }
let elapsed = clock.now - start
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print("\(size) processes x \(laps) laps = \(size * laps) hops in \(elapsed)")
print("\(Int(Double(size * laps) / seconds)) hops/s")
try await node.shutdown()
