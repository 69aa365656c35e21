import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

// versionCode/versionName must equal harness/contract.py APP_VERSION_CODE/APP_VERSION_NAME
// (tests/test_contract_examples.py checks): the host replaces an installed app of another version.
android {
    namespace = "dev.harness.benchmark"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.harness.benchmark"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // Phones (arm64-v8a) and emulators (x86_64): the ABIs scripts/build_aar.sh builds.
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    buildTypes {
        getByName("release") {
            // Signed with the debug key so that `adb install` works without a keystore;
            // not minified (the TFLite and Flex classes are reached through JNI and reflection).
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets {
        getByName("main").java.srcDirs("src/main/kotlin")
        getByName("test").java.srcDirs("src/test/kotlin")
    }

    packaging {
        // The Flex library is large; keep native libraries uncompressed and mapped from the APK.
        jniLibs.useLegacyPackaging = false
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation("org.tensorflow:tensorflow-lite:2.16.1")
    // Select TF ops + TF Text kernels (Flex delegate), built by scripts/build_aar.sh.
    implementation(fileTree(mapOf("dir" to "libs", "include" to listOf("*.aar"))))

    testImplementation("junit:junit:4.13.2")
    // org.json is part of Android but stubbed in local unit tests: Android's implementation, from Maven Central.
    testImplementation("com.vaadin.external.google:android-json:0.0.20131108.vaadin1")
}

tasks.withType<Test>().configureEach {
    // The contract examples and test vectors shared with the Python side.
    systemProperty("harness.contractExamples", rootProject.file("../../harness/data/contract/examples").absolutePath)
}
