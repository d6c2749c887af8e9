// Sign up and log in. Signing up logs the new account in at once. Each invalid field's
// message sits under that field; the token goes to the session (memory + sessionStorage).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { useMutation } from "@connectrpc/connect-query";
import { type FormEvent, useId, useState } from "react";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { describeError, type Problem } from "./errors.js";
import { signIn } from "./session.js";

const fieldNames = ["name", "email", "password"] as const;

export function AccountForms({ onSignedIn }: { onSignedIn: () => void }) {
  return (
    <div className="forms">
      <SignInForm mode="sign-up" onSignedIn={onSignedIn} />
      <SignInForm mode="log-in" onSignedIn={onSignedIn} />
    </div>
  );
}

function SignInForm({ mode, onSignedIn }: { mode: "sign-up" | "log-in"; onSignedIn: () => void }) {
  const createAccount = useMutation(AccountService.method.createAccount);
  const login = useMutation(AccountService.method.login);
  const [problem, setProblem] = useState<Problem | null>(null);
  const busy = createAccount.isPending || login.isPending;
  const title = mode === "sign-up" ? "Create an account" : "Log in";

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = (name: string) => String(form.get(name) ?? "");
    setProblem(null);
    try {
      if (mode === "sign-up") {
        await createAccount.mutateAsync({
          name: value("name"),
          email: value("email"),
          password: value("password"),
        });
      }
      const answer = await login.mutateAsync({
        email: value("email"),
        password: value("password"),
      });
      if (!answer.account || !answer.expireTime) throw new Error("incomplete login answer");
      signIn({
        token: answer.accessToken,
        accountId: answer.account.id,
        name: answer.account.name,
        expiresAt: timestampMs(answer.expireTime),
      });
      onSignedIn();
    } catch (error) {
      setProblem(describeError(error, { fields: fieldNames }));
    }
  };

  return (
    <form onSubmit={submit} aria-label={title} noValidate>
      <h2>{title}</h2>
      {mode === "sign-up" && (
        <Field name="name" label="Name" autoComplete="name" problem={problem} />
      )}
      <Field name="email" label="Email" type="email" autoComplete="email" problem={problem} />
      <Field
        name="password"
        label="Password"
        type="password"
        autoComplete={mode === "sign-up" ? "new-password" : "current-password"}
        problem={problem}
      />
      {problem && (
        <p role="alert" className="error">
          {problem.message}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {mode === "sign-up" ? "Sign up" : "Log in"}
      </button>
    </form>
  );
}

function Field({
  name,
  label,
  type = "text",
  autoComplete,
  problem,
}: {
  name: (typeof fieldNames)[number];
  label: string;
  type?: string;
  autoComplete: string;
  problem: Problem | null;
}) {
  const id = useId();
  const message = problem?.fields[name];
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={name}
        type={type}
        autoComplete={autoComplete}
        aria-invalid={message ? true : undefined}
        aria-describedby={message ? `${id}-error` : undefined}
      />
      {message && (
        <span id={`${id}-error`} className="field-error">
          {message}
        </span>
      )}
    </div>
  );
}
