import Calf
#if canImport(Glibc)
import Glibc
#endif

/// The demo service booted by `Supervisors/demo.yaml` (what the README's run
/// command starts): a pool of durable tallies, a producer → collector
/// pipeline, a port running a shell loop, and a worker that crashes now and then.
public enum Demo {
    /// The behaviors `demo.yaml` names, for `CalfMain.run`.
    public static let registry = BehaviorRegistry(
        durable: [Tally.self, Orders.self, Stamper.self, Waiter.self],
        transient: [Collector.self, Producer.self, PortLog.self, Flaky.self, Stubborn.self])
}

/// A durable counter (the pool's workers): `{"add":{"_0":5}}` adds,
/// `{"get":{}}` answers the total, `{"poison":{}}` always fails (it ends in
/// the dead letters after three tries).
public struct Tally: DurableBehavior {
    /// Where it starts.
    public var start = 0
    /// Microseconds each `add` keeps its scheduler busy (a stand-in for
    /// real work: the flood test's slow handler; nil: none).
    public var workMicroseconds: Int?
    /// Microseconds each `add` blocks its scheduler's thread asleep (a
    /// handler waiting on slow I/O: the flood test's, which must not take a
    /// core from the tests beside it; nil: none).
    public var waitMicroseconds: Int?
    /// Messages from outside it takes before it has handled them (nil: the node's `--mailbox-limit`).
    public var mailboxLimit: Int?

    /// What it takes.
    public enum Message: Codable, Sendable {
        /// Adds to the total.
        case add(Int)
        /// Replies with the total.
        case get
        /// Fails, every time.
        case poison
    }

    /// What `poison` throws.
    public struct Refused: Error, CustomStringConvertible {
        /// Why.
        public var description: String { "Tally refuses poison" }
    }

    /// Its total.
    public struct State: Codable {
        /// The running total.
        public var total: Int
    }

    /// Starts at `start`.
    public func initialState() -> State { State(total: start) }

    /// Adds or answers.
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .add(let n):
            if let workMicroseconds, workMicroseconds > 0 { Self.work(for: .microseconds(workMicroseconds)) }
            if let waitMicroseconds, waitMicroseconds > 0 { usleep(UInt32(clamping: waitMicroseconds)) }
            state.total += n
        case .get: context.reply(state.total)
        case .poison: throw Refused()
        }
    }
}

extension Tally {
    /// Keeps this thread busy for `duration` (it does not sleep: a handler that computes).
    static func work(for duration: Duration) {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: duration)
        while clock.now < end {}
    }
}

/// The pipeline's second stage: sums what the producer sends and answers `total`.
public struct Collector: ConfiguredBehavior {
    /// What it takes (also as JSON from outside: `{"value":{"_0":5}}`, `{"total":{}}`).
    public enum Message: Codable, Sendable {
        /// A number from the producer.
        case value(Int)
        /// Replies with the sum so far.
        case total
    }

    /// The sum of this incarnation.
    public final class State { var sum = 0 }

    /// A fresh sum.
    public func initialState() -> State { State() }

    /// Adds or answers.
    public func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .value(let n): state.sum += n
        case .total: context.reply(state.sum)
        }
    }
}

/// The pipeline's first stage: sends 1, 2, 3… to `collector` every `intervalMilliseconds`.
public struct Producer: ConfiguredBehavior {
    /// Milliseconds between numbers.
    public var intervalMilliseconds = 1000
    /// Where the numbers go (a registered name).
    public var target = "collector"

    /// Its own timer.
    public enum Message: Sendable { case tick }

    /// The next number.
    public final class State { var next = 1 }

    /// A fresh count.
    public func initialState() -> State { State() }

    /// Arms the first tick.
    public func started(state: inout State, context: inout Context<Message>) throws {
        context.sendAfter(.tick, after: .milliseconds(intervalMilliseconds))
    }

    /// Sends the next number and arms the next tick.
    public func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        context.send(Collector.Message.value(state.next), to: target)
        state.next += 1
        context.sendAfter(.tick, after: .milliseconds(intervalMilliseconds))
    }
}

/// The port's owner: counts the lines the shell loop prints and keeps the last one.
public struct PortLog: ConfiguredBehavior {
    /// Port output.
    public typealias Message = PortOutput

    /// Lines seen.
    public final class State {
        var lines = 0
        var last = ""
    }

    /// Nothing seen yet.
    public func initialState() -> State { State() }

    /// Counts a line.
    public func handle(_ message: PortOutput, state: inout State, context: inout Context<PortOutput>) throws {
        if case .line(_, let text) = message {
            state.lines += 1
            state.last = text
        }
    }
}

/// A worker that crashes now and then (after a random time in
/// `minimumMilliseconds…maximumMilliseconds`), for its supervisor to restart.
public struct Flaky: ConfiguredBehavior {
    /// The shortest life.
    public var minimumMilliseconds = 3000
    /// The longest life.
    public var maximumMilliseconds = 8000

    /// Its own timer.
    public enum Message: Sendable { case crash }

    /// Nothing to keep.
    public typealias State = Void

    /// The crash that ends it.
    public struct Crash: Error, CustomStringConvertible {
        /// Why.
        public var description: String { "Flaky crashed, as it does now and then" }
    }

    /// Arms its crash.
    public func started(state: inout Void, context: inout Context<Message>) throws {
        let life = Int.random(in: minimumMilliseconds...max(minimumMilliseconds, maximumMilliseconds))
        context.sendAfter(.crash, after: .milliseconds(life))
    }

    /// Crashes.
    public func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        throw Crash()
    }
}

/// A worker that traps exits and ignores every exit signal, `shutdown`
/// included: its supervisor must kill it once its shutdown time is up
/// (what a child stuck in a long cleanup looks like to OTP's supervisor).
public struct Stubborn: ConfiguredBehavior {
    /// It takes no messages of its own.
    public enum Message: Sendable {}

    /// Nothing to keep.
    public typealias State = Void

    /// Traps exits, so that exit signals come as messages it then ignores.
    public func started(state: inout Void, context: inout Context<Message>) throws {
        context.trapExit = true
    }

    /// Never called: there are no messages of its type.
    public func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {}

    /// Ignores the exit signal, whatever its reason.
    public func handle(signal: Signal, state: inout Void, context: inout Context<Message>) throws {}
}

/// A durable process whose handler does each kind of side effect at once:
/// `{"place":{"id":7}}` spawns a durable child `orders/item-7` (a `Tally`),
/// arms a one-shot timer that brings `{"fired":{"id":7}}` back 300 ms
/// later, and answers the number of orders placed. Effectively once: an
/// order placed again (a caller retrying a call whose answer it never got)
/// is answered without doing anything twice. What the kill -9 tests of side
/// effects drive.
public struct Orders: DurableBehavior {
    /// What it takes.
    public enum Message: Codable, Sendable {
        /// Places an order: a child, a timer, an answer.
        case place(id: Int)
        /// An order's timer fired.
        case fired(id: Int)
        /// Answers the orders placed and the timers fired, as `[placed, fired]`.
        case count
    }

    /// The orders placed and the timers that fired, in order.
    public struct State: Codable {
        /// Order ids, as placed.
        public var placed: [Int] = []
        /// Order ids, as their timers fired.
        public var fired: [Int] = []
    }

    /// Nothing placed.
    public func initialState() -> State { State() }

    /// Places an order, notes a timer, or answers.
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .place(let id):
            if !state.placed.contains(id) {
                _ = try context.spawn(Tally(), name: "orders/item-\(id)")
                context.sendAfter(.fired(id: id), after: .milliseconds(300))
                state.placed.append(id)
            }
            context.reply(state.placed.count)
        case .fired(let id):
            state.fired.append(id)
        case .count:
            context.reply([state.placed.count, state.fired.count])
        }
    }
}
