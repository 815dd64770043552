// The demo app. It compiles the generated Kotlin bindings straight from
// ../../bindings-kotlin (no copy), and the native library
// libmtproto_uniffi.so is built for the device ABIs by cargo-ndk before
// every build (task `cargoNdk`, see README.md).
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val repoRoot = rootProject.projectDir.resolve("../..").canonicalFile
val jniLibsDir = layout.projectDirectory.dir("src/main/jniLibs").asFile

android {
    namespace = "dev.mtproto.android"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.mtproto.android"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // Where the app connects by default: the host's loopback as seen
        // from the emulator. Override with -PmtprotoAddress=HOST:PORT.
        val address = (project.findProperty("mtprotoAddress") as String?) ?: "10.0.2.2:4430"
        buildConfigField("String", "DEFAULT_ADDRESS", "\"$address\"")
    }

    buildFeatures {
        buildConfig = true
    }

    sourceSets {
        getByName("main") {
            // The same generated sources (and MtprotoJvm.kt) the JVM tests use.
            java.srcDir(repoRoot.resolve("bindings-kotlin/src/main/kotlin"))
            jniLibs.srcDir(jniLibsDir)
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    // JNA as an AAR: it carries libjnidispatch.so for every Android ABI.
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.11.0")
}

// Builds libmtproto_uniffi.so for the emulator (x86_64) and devices
// (arm64-v8a) into src/main/jniLibs/<abi>/. Needs the Android NDK
// (ANDROID_NDK_HOME), `cargo install cargo-ndk` and
// `rustup target add aarch64-linux-android x86_64-linux-android`.
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a",
        "-t", "x86_64",
        "--platform", "24",
        "-o", jniLibsDir.path,
        "build", "--release", "--locked", "-p", "mtproto-uniffi",
    )
}
tasks.named("preBuild") { dependsOn(cargoNdk) }
