import Calf

/// The bank example: durable accounts and a teller that moves money
/// between them. Booted by `Supervisors/bank.yaml`:
/// `calf node --data /tmp/bank Supervisors/bank.yaml`, then
/// `calf shell --data /tmp/bank -c 'send teller {"transfer":{"from":3,"to":7,"amount":25}} --key t-1'`.
public enum Bank {
    /// The behaviors a node running the bank must know.
    public static let behaviors: [any DurableBehavior.Type] = [Account.self, Teller.self]
}

/// An account: a balance moved by credits and debits. Balances may go
/// negative: the final balances depend only on which transfers were applied.
public struct Account: DurableBehavior {
    /// The balance a new account opens with.
    public var opening: Int

    /// Makes an account that opens with `opening`.
    public init(opening: Int = 1000) { self.opening = opening }

    /// What an account is sent: `{"credit":{"amount":25}}`, `{"debit":{"amount":25}}`, `{"balance":{}}` (a call).
    public enum Message: Codable, Sendable, Equatable {
        case credit(amount: Int)
        case debit(amount: Int)
        case balance
    }

    /// Prints as `{"balance":975}`.
    public struct State: Codable, Sendable, Equatable {
        public var balance: Int
    }

    public func initialState() -> State { State(balance: opening) }

    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        switch message {
        case .credit(let amount): state.balance += amount
        case .debit(let amount): state.balance -= amount
        case .balance: context.reply(state.balance)
        }
    }
}

/// The teller: turns a transfer into a debit and a credit, both accepted in
/// the same commit as the teller's own progress (so a transfer is applied
/// exactly once, whatever crashes).
public struct Teller: DurableBehavior {
    /// Makes the teller.
    public init() {}

    /// `{"transfer":{"from":3,"to":7,"amount":25}}`
    public enum Message: Codable, Sendable, Equatable {
        case transfer(from: Int, to: Int, amount: Int)
    }

    /// Transfers handled so far.
    public struct State: Codable, Sendable, Equatable {
        public var transfers = 0
    }

    public func initialState() -> State { State() }

    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        switch message {
        case .transfer(let from, let to, let amount):
            context.send(Account.Message.debit(amount: amount), to: "account-\(from)")
            context.send(Account.Message.credit(amount: amount), to: "account-\(to)")
            state.transfers += 1
        }
    }
}
