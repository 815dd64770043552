import SwiftUI

@main
struct MTProtoDemoApp: App {
    var body: some Scene {
        WindowGroup {
            ContentView()
        }
    }
}
