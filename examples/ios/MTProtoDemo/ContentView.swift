// One screen: an address field, a Connect button, and a log of the echo
// answer, connection states and pushed updates. The API use mirrors the
// Kotlin tests and examples: Runtime → openSession(config:) → async
// invoke → UpdateListener → close.
import MTProto
import SwiftUI

@MainActor
final class DemoModel: ObservableObject {
    @Published var address = "127.0.0.1:4430" // the simulator shares the Mac's loopback
    @Published var log: [String] = []

    private let runtime = try! Runtime()
    private var session: Session?
    private var task: Task<Void, Never>?

    nonisolated func append(_ line: String) {
        Task { @MainActor in self.log.append(line) }
    }

    func connect() {
        session?.close()
        task?.cancel() // cancels a pending invoke: the server gets rpc_drop_answer
        guard let url = Bundle.main.url(forResource: "localdc.pub", withExtension: "pem"),
              let pem = try? String(contentsOf: url, encoding: .utf8)
        else {
            append("localdc.pub.pem is missing from the app bundle (see README)")
            return
        }
        let config = SessionConfig(
            address: address, dcId: 2, publicKeyPem: pem,
            requestTimeoutMs: 10_000, reconnect: .mobile
        )
        let session: Session
        do {
            session = try runtime.openSession(config: config)
        } catch {
            append("cannot open: \(error)")
            return
        }
        self.session = session
        // Listeners run on the library's dispatcher thread, in batches.
        session.setStateListener(listener: StateLog(model: self))
        session.setUpdateListener(listener: UpdateLog(model: self))
        task = Task {
            do {
                let reply = try await session.invoke(data: TestApi.echo(Data("hello from iOS".utf8)))
                append("echo: \(String(decoding: try TestApi.payload(reply), as: UTF8.self))")
                _ = try await session.invoke(data: TestApi.pushUpdates(count: 5, size: 16))
            } catch {
                append("failed: \(error)")
            }
        }
    }
}

final class StateLog: StateListener {
    // A let of a main-actor class: the listener stays Sendable.
    private let model: DemoModel
    init(model: DemoModel) { self.model = model }
    func onState(state: SessionState) throws { model.append("state: \(state)") }
}

final class UpdateLog: UpdateListener {
    private let model: DemoModel
    init(model: DemoModel) { self.model = model }
    func onUpdates(batch: [Data]) throws {
        for update in batch {
            let (seq, data) = try TestApi.update(update)
            model.append("update seq=\(seq) (\(data.count) bytes)")
        }
    }
}

struct ContentView: View {
    @StateObject private var model = DemoModel()

    var body: some View {
        VStack(alignment: .leading, spacing: 12) {
            TextField("address", text: $model.address)
                .textFieldStyle(.roundedBorder)
                .autocorrectionDisabled()
            Button("Connect, echo, get 5 updates") { model.connect() }
            List(Array(model.log.enumerated()), id: \.offset) { _, line in
                Text(line).font(.system(.footnote, design: .monospaced))
            }
        }
        .padding()
    }
}
