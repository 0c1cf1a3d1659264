//! The portable diesel schema, written by hand to match both migration folders
//! (`migrations/sqlite` and `migrations/postgres`). `tests/schema.rs` proves the two dialects
//! produce the same tables and columns.

diesel::table! {
    projects (id) {
        id -> BigInt,
        path -> Text,
        visibility -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Nullable<Text>,
        is_admin -> Bool,
        is_active -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    memberships (project_id, user_id) {
        project_id -> BigInt,
        user_id -> BigInt,
        role -> Text,
    }
}

diesel::table! {
    personal_access_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    deploy_tokens (id) {
        id -> BigInt,
        project_id -> BigInt,
        name -> Text,
        username -> Text,
        token_hash -> Text,
        scopes -> Text,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> BigInt,
        secret -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    identity_epoch (id) {
        id -> BigInt,
        value -> BigInt,
    }
}

diesel::table! {
    package_protection_rules (id) {
        id -> BigInt,
        project_id -> BigInt,
        package_name_pattern -> Text,
        package_type -> Text,
        minimum_access_level_for_push -> Nullable<Text>,
        minimum_access_level_for_delete -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    recipes (id) {
        id -> BigInt,
        project_id -> BigInt,
        name -> Text,
        version -> Text,
        user_name -> Text,
        channel -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_downloaded_at -> Nullable<BigInt>,
        committed -> Bool,
    }
}

diesel::table! {
    recipe_revisions (id) {
        id -> BigInt,
        recipe_id -> BigInt,
        revision -> Text,
        committed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        last_downloaded_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    package_references (id) {
        id -> BigInt,
        recipe_revision_id -> BigInt,
        package_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    package_revisions (id) {
        id -> BigInt,
        package_reference_id -> BigInt,
        revision -> Text,
        committed_at -> Nullable<BigInt>,
        conaninfo -> Nullable<Text>,
        created_at -> BigInt,
        last_downloaded_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        sha1 -> Text,
        md5 -> Nullable<Text>,
        size -> BigInt,
        created_at -> BigInt,
        orphaned_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    files (id) {
        id -> BigInt,
        recipe_revision_id -> BigInt,
        package_revision_id -> Nullable<BigInt>,
        path -> Text,
        size -> BigInt,
        md5 -> Nullable<Text>,
        sha1 -> Text,
        sha256 -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    cleanup_policies (project_id) {
        project_id -> BigInt,
        enabled -> Bool,
        cadence -> Text,
        keep_n_duplicated_package_files -> Text,
        keep_n_recipe_revisions -> Nullable<BigInt>,
        keep_n_package_revisions -> Nullable<BigInt>,
        unused_days -> Nullable<BigInt>,
        include_patterns -> Text,
        exclude_patterns -> Text,
        next_run_at -> Nullable<BigInt>,
        updated_at -> BigInt,
        source_backups_unused_days -> Nullable<BigInt>,
    }
}

diesel::table! {
    cleanup_runs (id) {
        id -> BigInt,
        project_id -> BigInt,
        started_by -> Text,
        policy -> Text,
        state -> Text,
        owner -> Text,
        lease_until -> BigInt,
        resume_after -> Nullable<BigInt>,
        recipes_examined -> BigInt,
        skipped_protected -> BigInt,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    cleanup_removals (id) {
        id -> BigInt,
        run_id -> BigInt,
        kind -> Text,
        reference -> Text,
        package_revisions -> BigInt,
        files -> BigInt,
        logical_bytes -> BigInt,
        stored_bytes -> BigInt,
        reason -> Text,
        removed_at -> BigInt,
    }
}

diesel::table! {
    source_backups (project_id, sha256) {
        project_id -> BigInt,
        sha256 -> Text,
        blob_sha256 -> Nullable<Text>,
        size -> Nullable<BigInt>,
        summary -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    remote_projects (project_id) {
        project_id -> BigInt,
        upstream_url -> Text,
        sealed_credentials -> Nullable<Text>,
        metadata_ttl_secs -> BigInt,
        not_found_ttl_secs -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    virtual_projects (project_id) {
        project_id -> BigInt,
        deploy_member_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    virtual_members (virtual_project_id, member_project_id) {
        virtual_project_id -> BigInt,
        member_project_id -> BigInt,
        ordinal -> BigInt,
    }
}

diesel::joinable!(memberships -> projects (project_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(personal_access_tokens -> users (user_id));
diesel::joinable!(deploy_tokens -> projects (project_id));
diesel::joinable!(package_protection_rules -> projects (project_id));
diesel::joinable!(recipes -> projects (project_id));
diesel::joinable!(recipe_revisions -> recipes (recipe_id));
diesel::joinable!(package_references -> recipe_revisions (recipe_revision_id));
diesel::joinable!(package_revisions -> package_references (package_reference_id));
diesel::joinable!(files -> recipe_revisions (recipe_revision_id));
diesel::joinable!(files -> package_revisions (package_revision_id));
diesel::joinable!(files -> blobs (sha256));
diesel::joinable!(cleanup_policies -> projects (project_id));
diesel::joinable!(cleanup_runs -> projects (project_id));
diesel::joinable!(cleanup_removals -> cleanup_runs (run_id));
diesel::joinable!(source_backups -> projects (project_id));
diesel::joinable!(remote_projects -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    projects,
    users,
    memberships,
    personal_access_tokens,
    deploy_tokens,
    signing_keys,
    identity_epoch,
    package_protection_rules,
    recipes,
    recipe_revisions,
    package_references,
    package_revisions,
    blobs,
    files,
    cleanup_policies,
    cleanup_runs,
    cleanup_removals,
    source_backups,
    remote_projects,
    virtual_projects,
    virtual_members,
);
