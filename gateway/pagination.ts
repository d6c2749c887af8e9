// The page-size check the list resolvers make: skip and take as the services accept them, named
// in the error as the GraphQL argument (`pagination.take`).
import { badUserInput, type FieldProblem } from "./errors.js";

export interface PaginationInput {
  skip?: number | null;
  take?: number | null;
}

export const defaultTake = 20;

/** skip ≥ 0 and take 1 … maxTake, with the schema's defaults for null. */
export function checkPagination(
  input: PaginationInput | null | undefined,
  maxTake: number,
): { skip: number; take: number } {
  const skip = input?.skip ?? 0;
  const take = input?.take ?? defaultTake;
  const problems: FieldProblem[] = [];
  if (skip < 0) problems.push({ field: "pagination.skip", message: "must be 0 or more" });
  if (take < 1 || take > maxTake) {
    problems.push({ field: "pagination.take", message: `must be 1 to ${maxTake}` });
  }
  if (problems.length > 0) throw badUserInput(problems);
  return { skip, take };
}
