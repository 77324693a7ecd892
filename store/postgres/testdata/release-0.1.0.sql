--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: access_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_keys (
    id text NOT NULL COLLATE pg_catalog."C",
    account text NOT NULL COLLATE pg_catalog."C",
    user_name text NOT NULL COLLATE pg_catalog."C",
    sealed_secret bytea NOT NULL,
    created_at timestamp with time zone
);


--
-- Name: accounts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.accounts (
    id text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone,
    policies_seeded boolean DEFAULT false NOT NULL,
    org text COLLATE pg_catalog."C",
    parent text COLLATE pg_catalog."C"
);


--
-- Name: activations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.activations (
    id text NOT NULL COLLATE pg_catalog."C",
    account text NOT NULL COLLATE pg_catalog."C",
    code_hash text NOT NULL COLLATE pg_catalog."C",
    description text NOT NULL COLLATE pg_catalog."C",
    default_name text NOT NULL COLLATE pg_catalog."C",
    tags text NOT NULL COLLATE pg_catalog."C",
    registration_limit bigint NOT NULL,
    registration_count bigint NOT NULL,
    expires_at timestamp with time zone,
    created_at timestamp with time zone
);


--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    seq bigint NOT NULL,
    "time" timestamp with time zone NOT NULL,
    account text NOT NULL COLLATE pg_catalog."C",
    actor text NOT NULL COLLATE pg_catalog."C",
    action text NOT NULL COLLATE pg_catalog."C",
    resource text NOT NULL COLLATE pg_catalog."C",
    source text NOT NULL COLLATE pg_catalog."C",
    result text NOT NULL COLLATE pg_catalog."C",
    status bigint NOT NULL,
    request_id text NOT NULL COLLATE pg_catalog."C",
    detail text NOT NULL COLLATE pg_catalog."C",
    prev_hash bytea,
    hash bytea NOT NULL
);


--
-- Name: command_invocations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.command_invocations (
    account text NOT NULL COLLATE pg_catalog."C",
    command_id text NOT NULL COLLATE pg_catalog."C",
    node_id text NOT NULL COLLATE pg_catalog."C",
    seq bigint NOT NULL,
    node_name text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL COLLATE pg_catalog."C",
    status_details text NOT NULL COLLATE pg_catalog."C",
    session_id text NOT NULL COLLATE pg_catalog."C",
    exit_code bigint,
    stdout text NOT NULL COLLATE pg_catalog."C",
    stderr text NOT NULL COLLATE pg_catalog."C",
    stdout_bytes bigint NOT NULL,
    stderr_bytes bigint NOT NULL,
    started_at timestamp with time zone,
    ended_at timestamp with time zone
);


--
-- Name: commands; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.commands (
    account text NOT NULL COLLATE pg_catalog."C",
    id text NOT NULL COLLATE pg_catalog."C",
    owner text NOT NULL COLLATE pg_catalog."C",
    document_name text NOT NULL COLLATE pg_catalog."C",
    parameters text NOT NULL COLLATE pg_catalog."C",
    targets text NOT NULL COLLATE pg_catalog."C",
    comment text NOT NULL COLLATE pg_catalog."C",
    max_concurrency text NOT NULL COLLATE pg_catalog."C",
    max_errors text NOT NULL COLLATE pg_catalog."C",
    script text NOT NULL COLLATE pg_catalog."C",
    working_directory text NOT NULL COLLATE pg_catalog."C",
    timeout_seconds bigint NOT NULL,
    status text NOT NULL COLLATE pg_catalog."C",
    status_details text NOT NULL COLLATE pg_catalog."C",
    target_count bigint NOT NULL,
    completed_count bigint NOT NULL,
    error_count bigint NOT NULL,
    requested_at timestamp with time zone,
    ended_at timestamp with time zone
);


--
-- Name: cursors; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cursors (
    name text NOT NULL COLLATE pg_catalog."C",
    value bigint NOT NULL
);


--
-- Name: deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.deliveries (
    account text NOT NULL COLLATE pg_catalog."C",
    session_id text NOT NULL COLLATE pg_catalog."C",
    destination text NOT NULL COLLATE pg_catalog."C",
    artifact text NOT NULL COLLATE pg_catalog."C",
    target text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL COLLATE pg_catalog."C",
    attempts bigint NOT NULL,
    last_error text NOT NULL COLLATE pg_catalog."C",
    location text NOT NULL COLLATE pg_catalog."C",
    bytes bigint NOT NULL,
    cursor bigint NOT NULL,
    next_attempt timestamp with time zone,
    created_at timestamp with time zone,
    updated_at timestamp with time zone
);


--
-- Name: documents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.documents (
    account text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL,
    content text NOT NULL COLLATE pg_catalog."C",
    session_type text NOT NULL COLLATE pg_catalog."C",
    description text NOT NULL COLLATE pg_catalog."C",
    created_by text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone
);


--
-- Name: key_aliases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.key_aliases (
    account text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    key_id text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone
);


--
-- Name: key_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.key_versions (
    account text NOT NULL COLLATE pg_catalog."C",
    key_id text NOT NULL COLLATE pg_catalog."C",
    version bigint NOT NULL,
    wrapped bytea NOT NULL,
    created_at timestamp with time zone,
    CONSTRAINT key_versions_wrapped_check CHECK ((octet_length(wrapped) > 0))
);


--
-- Name: keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.keys (
    account text NOT NULL COLLATE pg_catalog."C",
    id text NOT NULL COLLATE pg_catalog."C",
    description text NOT NULL COLLATE pg_catalog."C",
    state text NOT NULL COLLATE pg_catalog."C",
    deletion_date timestamp with time zone,
    policy text NOT NULL COLLATE pg_catalog."C",
    rotation_period bigint NOT NULL,
    next_rotation timestamp with time zone,
    created_at timestamp with time zone
);


--
-- Name: leases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.leases (
    name text NOT NULL COLLATE pg_catalog."C",
    holder text NOT NULL COLLATE pg_catalog."C",
    expires timestamp with time zone NOT NULL
);


--
-- Name: nodes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.nodes (
    id text NOT NULL COLLATE pg_catalog."C",
    account text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    hostname text NOT NULL COLLATE pg_catalog."C",
    os text NOT NULL COLLATE pg_catalog."C",
    platform text NOT NULL COLLATE pg_catalog."C",
    agent_version text NOT NULL COLLATE pg_catalog."C",
    ip text NOT NULL COLLATE pg_catalog."C",
    tags text NOT NULL COLLATE pg_catalog."C",
    activation_id text NOT NULL COLLATE pg_catalog."C",
    cert_serial text NOT NULL COLLATE pg_catalog."C",
    registered_at timestamp with time zone,
    last_seen timestamp with time zone
);


--
-- Name: org_units; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.org_units (
    id text NOT NULL COLLATE pg_catalog."C",
    org text NOT NULL COLLATE pg_catalog."C",
    parent text COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone
);


--
-- Name: organizations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.organizations (
    id text NOT NULL COLLATE pg_catalog."C",
    management_account text NOT NULL COLLATE pg_catalog."C",
    root text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone,
    archive text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: placements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.placements (
    key text NOT NULL COLLATE pg_catalog."C",
    server text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policies (
    account text NOT NULL COLLATE pg_catalog."C",
    id text NOT NULL COLLATE pg_catalog."C",
    body text NOT NULL COLLATE pg_catalog."C",
    updated_at timestamp with time zone,
    updated_by text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: root_key_check; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.root_key_check (
    id bigint NOT NULL,
    value bytea NOT NULL,
    CONSTRAINT root_key_check_id_check CHECK ((id = 1))
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version bigint NOT NULL,
    applied_at timestamp with time zone NOT NULL
);


--
-- Name: sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sessions (
    id text NOT NULL COLLATE pg_catalog."C",
    account text NOT NULL COLLATE pg_catalog."C",
    owner text NOT NULL COLLATE pg_catalog."C",
    target text NOT NULL COLLATE pg_catalog."C",
    document text NOT NULL COLLATE pg_catalog."C",
    reason text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL COLLATE pg_catalog."C",
    status_reason text NOT NULL COLLATE pg_catalog."C",
    run_as_user text NOT NULL COLLATE pg_catalog."C",
    started_at timestamp with time zone,
    ended_at timestamp with time zone,
    exit_code bigint,
    cols bigint NOT NULL,
    term_rows bigint NOT NULL,
    recorded_seq bigint NOT NULL,
    settings text DEFAULT '{}'::text NOT NULL COLLATE pg_catalog."C",
    shred_key bytea
);


--
-- Name: stack_instances; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stack_instances (
    org text NOT NULL COLLATE pg_catalog."C",
    stack_set text NOT NULL COLLATE pg_catalog."C",
    account text NOT NULL COLLATE pg_catalog."C",
    status text NOT NULL COLLATE pg_catalog."C",
    reason text NOT NULL COLLATE pg_catalog."C",
    digest text NOT NULL COLLATE pg_catalog."C",
    parameters text NOT NULL COLLATE pg_catalog."C",
    physical_ids text NOT NULL COLLATE pg_catalog."C",
    resources text NOT NULL COLLATE pg_catalog."C",
    drift text NOT NULL COLLATE pg_catalog."C",
    drift_checked_at timestamp with time zone,
    updated_at timestamp with time zone
);


--
-- Name: stack_set_operations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stack_set_operations (
    org text NOT NULL COLLATE pg_catalog."C",
    stack_set text NOT NULL COLLATE pg_catalog."C",
    id text NOT NULL COLLATE pg_catalog."C",
    action text NOT NULL COLLATE pg_catalog."C",
    actor text NOT NULL COLLATE pg_catalog."C",
    stopped text NOT NULL COLLATE pg_catalog."C",
    accounts text NOT NULL COLLATE pg_catalog."C",
    started_at timestamp with time zone,
    ended_at timestamp with time zone
);


--
-- Name: stack_sets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stack_sets (
    org text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    description text NOT NULL COLLATE pg_catalog."C",
    template text NOT NULL COLLATE pg_catalog."C",
    template_name text NOT NULL COLLATE pg_catalog."C",
    digest text NOT NULL COLLATE pg_catalog."C",
    parameters text NOT NULL COLLATE pg_catalog."C",
    targets text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    operation text NOT NULL COLLATE pg_catalog."C",
    operation_until timestamp with time zone
);


--
-- Name: tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tokens (
    hash text NOT NULL COLLATE pg_catalog."C",
    account text NOT NULL COLLATE pg_catalog."C",
    user_name text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone,
    expires_at timestamp with time zone,
    id text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    kind text DEFAULT 'session'::text NOT NULL COLLATE pg_catalog."C",
    name text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    scopes text DEFAULT '[]'::text NOT NULL COLLATE pg_catalog."C",
    signed_in_at timestamp with time zone
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    account text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    password_hash text NOT NULL COLLATE pg_catalog."C",
    admin boolean NOT NULL,
    run_as text NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone,
    groups text DEFAULT '[]'::text NOT NULL COLLATE pg_catalog."C",
    federated text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C"
);


--
-- Data for Name: access_keys; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.accounts VALUES ('000000000001', 'default', NULL, true, NULL, NULL);


--
-- Data for Name: activations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: command_invocations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: commands; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: cursors; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: documents; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: key_aliases; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: key_versions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: keys; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: leases; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: nodes; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: org_units; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: organizations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: placements; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: policies; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policies VALUES ('000000000001', 'ops', 'permit (principal in Group::"ops", action, resource);', NULL, '');


--
-- Data for Name: root_key_check; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (1, '2026-12-07 05:51:10.130385+00');
INSERT INTO public.schema_migrations VALUES (2, '2026-12-07 05:51:10.144583+00');
INSERT INTO public.schema_migrations VALUES (3, '2026-12-07 05:51:10.145024+00');
INSERT INTO public.schema_migrations VALUES (4, '2026-12-07 05:51:10.15382+00');
INSERT INTO public.schema_migrations VALUES (5, '2026-12-07 05:51:10.159291+00');
INSERT INTO public.schema_migrations VALUES (6, '2026-12-07 05:51:10.168058+00');
INSERT INTO public.schema_migrations VALUES (7, '2026-12-07 05:51:10.170747+00');
INSERT INTO public.schema_migrations VALUES (8, '2026-12-07 05:51:10.174857+00');
INSERT INTO public.schema_migrations VALUES (9, '2026-12-07 05:51:10.177712+00');


--
-- Data for Name: sessions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: stack_instances; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: stack_set_operations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: stack_sets; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: tokens; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.users VALUES ('000000000001', 'admin', 'not-a-real-hash', true, '', NULL, '["administrators"]', '');
INSERT INTO public.users VALUES ('000000000001', 'alice', 'not-a-real-hash', false, '', NULL, '["ops"]', '');


--
-- Name: access_keys access_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_keys
    ADD CONSTRAINT access_keys_pkey PRIMARY KEY (id);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: activations activations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activations
    ADD CONSTRAINT activations_pkey PRIMARY KEY (id);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (seq);


--
-- Name: command_invocations command_invocations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.command_invocations
    ADD CONSTRAINT command_invocations_pkey PRIMARY KEY (account, command_id, node_id);


--
-- Name: commands commands_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_pkey PRIMARY KEY (account, id);


--
-- Name: cursors cursors_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cursors
    ADD CONSTRAINT cursors_pkey PRIMARY KEY (name);


--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (account, session_id, destination, artifact);


--
-- Name: documents documents_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT documents_pkey PRIMARY KEY (account, name, version);


--
-- Name: key_aliases key_aliases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_aliases
    ADD CONSTRAINT key_aliases_pkey PRIMARY KEY (account, name);


--
-- Name: key_versions key_versions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_versions
    ADD CONSTRAINT key_versions_pkey PRIMARY KEY (account, key_id, version);


--
-- Name: keys keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.keys
    ADD CONSTRAINT keys_pkey PRIMARY KEY (account, id);


--
-- Name: leases leases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.leases
    ADD CONSTRAINT leases_pkey PRIMARY KEY (name);


--
-- Name: nodes nodes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.nodes
    ADD CONSTRAINT nodes_pkey PRIMARY KEY (id);


--
-- Name: org_units org_units_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.org_units
    ADD CONSTRAINT org_units_pkey PRIMARY KEY (id);


--
-- Name: organizations organizations_management_account_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organizations
    ADD CONSTRAINT organizations_management_account_key UNIQUE (management_account);


--
-- Name: organizations organizations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (id);


--
-- Name: placements placements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_pkey PRIMARY KEY (key);


--
-- Name: policies policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (account, id);


--
-- Name: root_key_check root_key_check_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.root_key_check
    ADD CONSTRAINT root_key_check_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);


--
-- Name: stack_instances stack_instances_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_instances
    ADD CONSTRAINT stack_instances_pkey PRIMARY KEY (org, stack_set, account);


--
-- Name: stack_set_operations stack_set_operations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_set_operations
    ADD CONSTRAINT stack_set_operations_pkey PRIMARY KEY (org, stack_set, id);


--
-- Name: stack_sets stack_sets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_sets
    ADD CONSTRAINT stack_sets_pkey PRIMARY KEY (org, name);


--
-- Name: tokens tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_pkey PRIMARY KEY (hash);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (account, name);


--
-- Name: access_keys_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX access_keys_user ON public.access_keys USING btree (account, user_name);


--
-- Name: accounts_org; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX accounts_org ON public.accounts USING btree (org, parent);


--
-- Name: activations_account; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX activations_account ON public.activations USING btree (account);


--
-- Name: audit_account_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_account_time ON public.audit USING btree (account, "time");


--
-- Name: commands_requested; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX commands_requested ON public.commands USING btree (account, requested_at);


--
-- Name: commands_running; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX commands_running ON public.commands USING btree (requested_at) WHERE (ended_at IS NULL);


--
-- Name: deliveries_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX deliveries_due ON public.deliveries USING btree (status, next_attempt);


--
-- Name: key_aliases_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX key_aliases_key ON public.key_aliases USING btree (account, key_id);


--
-- Name: keys_deletion_date; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX keys_deletion_date ON public.keys USING btree (state, deletion_date);


--
-- Name: keys_next_rotation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX keys_next_rotation ON public.keys USING btree (state, next_rotation);


--
-- Name: nodes_account; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX nodes_account ON public.nodes USING btree (account);


--
-- Name: org_units_name; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX org_units_name ON public.org_units USING btree (org, COALESCE(parent, ''::text), name);


--
-- Name: sessions_account_started; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sessions_account_started ON public.sessions USING btree (account, started_at DESC NULLS LAST, id DESC);


--
-- Name: sessions_owner; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sessions_owner ON public.sessions USING btree (account, owner, started_at DESC NULLS LAST, id DESC);


--
-- Name: sessions_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sessions_status ON public.sessions USING btree (account, status, started_at DESC NULLS LAST, id DESC);


--
-- Name: sessions_target; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sessions_target ON public.sessions USING btree (target, started_at DESC NULLS LAST, id DESC);


--
-- Name: stack_instances_account; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX stack_instances_account ON public.stack_instances USING btree (account);


--
-- Name: stack_set_operations_started; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX stack_set_operations_started ON public.stack_set_operations USING btree (org, stack_set, started_at);


--
-- Name: tokens_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tokens_id ON public.tokens USING btree (account, user_name, id);


--
-- Name: tokens_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tokens_user ON public.tokens USING btree (account, user_name);


--
-- Name: users_federated; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX users_federated ON public.users USING btree (account, federated) WHERE (federated <> ''::text);


--
-- Name: access_keys access_keys_account_user_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_keys
    ADD CONSTRAINT access_keys_account_user_name_fkey FOREIGN KEY (account, user_name) REFERENCES public.users(account, name) ON DELETE CASCADE;


--
-- Name: activations activations_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activations
    ADD CONSTRAINT activations_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: command_invocations command_invocations_account_command_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.command_invocations
    ADD CONSTRAINT command_invocations_account_command_id_fkey FOREIGN KEY (account, command_id) REFERENCES public.commands(account, id);


--
-- Name: commands commands_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.commands
    ADD CONSTRAINT commands_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: deliveries deliveries_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: documents documents_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT documents_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: key_aliases key_aliases_account_key_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_aliases
    ADD CONSTRAINT key_aliases_account_key_id_fkey FOREIGN KEY (account, key_id) REFERENCES public.keys(account, id) ON DELETE CASCADE;


--
-- Name: key_versions key_versions_account_key_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.key_versions
    ADD CONSTRAINT key_versions_account_key_id_fkey FOREIGN KEY (account, key_id) REFERENCES public.keys(account, id) ON DELETE CASCADE;


--
-- Name: keys keys_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.keys
    ADD CONSTRAINT keys_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: nodes nodes_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.nodes
    ADD CONSTRAINT nodes_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: org_units org_units_org_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.org_units
    ADD CONSTRAINT org_units_org_fkey FOREIGN KEY (org) REFERENCES public.organizations(id);


--
-- Name: org_units org_units_parent_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.org_units
    ADD CONSTRAINT org_units_parent_fkey FOREIGN KEY (parent) REFERENCES public.org_units(id);


--
-- Name: organizations organizations_management_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organizations
    ADD CONSTRAINT organizations_management_account_fkey FOREIGN KEY (management_account) REFERENCES public.accounts(id);


--
-- Name: policies policies_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: sessions sessions_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: stack_instances stack_instances_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_instances
    ADD CONSTRAINT stack_instances_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- Name: stack_instances stack_instances_org_stack_set_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_instances
    ADD CONSTRAINT stack_instances_org_stack_set_fkey FOREIGN KEY (org, stack_set) REFERENCES public.stack_sets(org, name);


--
-- Name: stack_set_operations stack_set_operations_org_stack_set_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_set_operations
    ADD CONSTRAINT stack_set_operations_org_stack_set_fkey FOREIGN KEY (org, stack_set) REFERENCES public.stack_sets(org, name);


--
-- Name: stack_sets stack_sets_org_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stack_sets
    ADD CONSTRAINT stack_sets_org_fkey FOREIGN KEY (org) REFERENCES public.organizations(id);


--
-- Name: tokens tokens_account_user_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_account_user_name_fkey FOREIGN KEY (account, user_name) REFERENCES public.users(account, name) ON DELETE CASCADE;


--
-- Name: users users_account_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);


--
-- PostgreSQL database dump complete
--


