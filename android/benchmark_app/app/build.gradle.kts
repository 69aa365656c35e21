import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

// The app's identity comes from ../gradle.properties (harness.*), which jvm/pom.xml reads too.
// versionCode/versionName must equal harness/contract.py APP_VERSION_CODE/APP_VERSION_NAME
// (tests/test_contract_examples.py checks): the host replaces an installed app of another version.
// versionName ends in "+tflite-<runtime version>": the TensorFlow Lite that scripts/build_aar.sh
// builds into app/libs/tensorflow-lite.aar (docs/app-contract.md, "The app's version").
fun harnessProperty(name: String): String = providers.gradleProperty("harness.$name").get()
val tfliteRuntimeVersion = harnessProperty("tfliteRuntimeVersion")

android {
    namespace = "dev.harness.benchmark"
    compileSdk = 35

    defaultConfig {
        applicationId = harnessProperty("applicationId")
        minSdk = 24
        targetSdk = 35
        versionCode = harnessProperty("versionCode").toInt()
        versionName = harnessProperty("versionBase") + "+tflite-" + tfliteRuntimeVersion
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

    testOptions {
        // Robolectric reads the merged manifest and resources AGP prepares for unit tests.
        unitTests.isIncludeAndroidResources = true
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
    // Both built by scripts/build_aar.sh from ONE TensorFlow tree (the one TF Text's WORKSPACE pins,
    // $tfliteRuntimeVersion), as TensorFlow's own tensorflow/lite/tools/build_aar.sh does:
    //   tensorflow-lite.aar       the TFLite runtime (Interpreter, libtensorflowlite_jni.so);
    //   tftext_tflite_flex.aar    the Flex delegate with the TF Text kernels linked in.
    // No org.tensorflow:tensorflow-lite from Maven: a Flex delegate must run in the runtime of
    // its own TensorFlow version (docs/android.md, "One TensorFlow version").
    implementation(files("libs/tensorflow-lite.aar", "libs/tftext_tflite_flex.aar"))

    testImplementation("junit:junit:4.13.2")
    // org.json is part of Android but stubbed in local unit tests: Android's implementation, from Maven Central.
    testImplementation("com.vaadin.external.google:android-json:0.0.20131108.vaadin1")
    // The same Robolectric the Maven build (jvm/pom.xml) runs the activity tests with.
    testImplementation("org.robolectric:robolectric:4.17")
}

tasks.withType<Test>().configureEach {
    // The contract examples and test vectors shared with the Python side.
    systemProperty("harness.contractExamples", rootProject.file("../../harness/data/contract/examples").absolutePath)
}
