import Calf

/// The bank example: durable accounts and a teller that moves money
/// between them. Booted by `Supervisors/bank.yaml`:
/// `calf node --data /tmp/bank Supervisors/bank.yaml`, then
/// `calf shell --data /tmp/bank -c 'send teller {"transfer":{"from":3,"to":7,"amount":25}} --key t-1'`.
public enum Bank {
    /// The behaviors a node running the bank must know.
    public static let behaviors: [any DurableBehavior.Type] = [Account.self, Teller.self]

    /// The same, for `CalfMain.run`.
    public static let registry = BehaviorRegistry(durable: behaviors)
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
        /// Adds `amount` to the balance.
        case credit(amount: Int)
        /// Takes `amount` from the balance (it may go negative).
        case debit(amount: Int)
        /// Replies with the balance (a call).
        case balance
    }

    /// Prints as `{"balance":975}`.
    public struct State: Codable, Sendable, Equatable {
        /// The money in the account.
        public var balance: Int
    }

    /// Opens with `opening`.
    public func initialState() -> State { State(balance: opening) }

    /// Credits, debits, answers the balance.
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
        /// Moves `amount` from `account-<from>` to `account-<to>`.
        case transfer(from: Int, to: Int, amount: Int)
    }

    /// Transfers handled so far.
    public struct State: Codable, Sendable, Equatable {
        /// How many transfers were handled.
        public var transfers = 0
    }

    /// No transfers yet.
    public func initialState() -> State { State() }

    /// Sends the debit and the credit of a transfer (both journaled with this handling).
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        switch message {
        case .transfer(let from, let to, let amount):
            context.send(Account.Message.debit(amount: amount), to: "account-\(from)")
            context.send(Account.Message.credit(amount: amount), to: "account-\(to)")
            state.transfers += 1
        }
    }
}
