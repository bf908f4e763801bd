import Foundation

/// Waiting with a limit on something that may not notice cancellation (a connection attempt, a process
/// stuck in the kernel): the caller goes on after the limit; the work is left to finish on its own.
public enum Deadline {
    /// The value of `body`, or `nil` when it takes longer than `seconds`.
    public static func run<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async -> T?) async -> T? {
        await first([
            { await body() },
            {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            },
        ])
    }

    /// The result of whichever of `bodies` finishes first. The others keep running unawaited.
    public static func first<T: Sendable>(_ bodies: [@Sendable () async -> T]) async -> T {
        let once = Once<T>()
        return await withCheckedContinuation { continuation in
            once.set(continuation)
            for body in bodies {
                Task { once.resume(with: await body()) }
            }
        }
    }

    private final class Once<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<T, Never>?

        func set(_ continuation: CheckedContinuation<T, Never>) {
            lock.lock()
            self.continuation = continuation
            lock.unlock()
        }

        func resume(with value: T) {
            lock.lock()
            let continuation = self.continuation
            self.continuation = nil
            lock.unlock()
            continuation?.resume(returning: value)
        }
    }
}
