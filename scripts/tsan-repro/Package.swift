// swift-tools-version:6.0
// A minimal reproducer for the ThreadSanitizer reports that scripts/tsan.supp suppresses under
// "continuation handoff": see README.md here. Not part of the pgconnect package.
import PackageDescription

let package = Package(
    name: "tsan-repro",
    targets: [.executableTarget(name: "tsan-repro")],
    swiftLanguageModes: [.v6]
)
