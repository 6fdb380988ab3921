import Calf
import Foundation
import Glibc
import ServiceLifecycle
import Synchronization

/// The last service of `calf node`'s group: it prints the ready line (the
/// group's signal handlers are in place by then), says why the node stops,
/// and ends the group when a root supervisor exits (then `calf node` exits
/// with status 1). The node and the control server stop after it, in the
/// reverse of their order in the group.
final class NodeWatch: Service, Sendable {
    private let node: Node
    private let readyLine: @Sendable () async -> String
    private let first = FirstAnswer<(id: String, reason: ExitReason)?>()

    init(node: Node, readyLine: @escaping @Sendable () async -> String) {
        self.node = node
        self.readyLine = readyLine
    }

    /// The root supervisor's exit that ended the node, if that is what ended it.
    var rootExit: (id: String, reason: ExitReason)? { first.answer ?? nil }

    func run() async throws {
        // Written straight to the descriptor: a pipe reader sees it at once.
        FileHandle.standardOutput.write(Data((await readyLine() + "\n").utf8))
        let node = self.node
        let first = self.first
        // Whichever comes first; a root-exit waiter left behind ends with the process.
        Task { first.give(await node.rootExit()) }
        let exit = await withGracefulShutdownHandler {
            await first.wait()
        } onGracefulShutdown: {
            first.give(nil)
        }
        let ending = exit.map { "the root supervisor '\($0.id)' exited (\($0.reason)): stopping the node" } ?? "graceful shutdown (a signal): stopping the node in order"
        FileHandle.standardError.write(Data("calf: \(ending)\n".utf8))
    }

    /// Lets SIGTERM and SIGINT through to this process (a parent may have
    /// started it with them blocked), for the group's signal handling.
    static func unblockStopSignals() {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }
}

/// The first of several answers, from any thread, to one waiter; later ones are dropped.
final class FirstAnswer<Value: Sendable>: Sendable {
    private struct State {
        var answer: Value?
        var waiter: CheckedContinuation<Value, Never>?
    }

    private let state = Mutex(State())

    /// The answer, once given.
    var answer: Value? { state.withLock { $0.answer } }

    /// Gives the answer unless one was given before.
    func give(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
            guard state.answer == nil else { return nil }
            state.answer = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// Waits for the answer (one waiter).
    func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                if let answer = state.answer { return answer }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
