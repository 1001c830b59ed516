// A front end's code over Castellan's generated types: it compiles (`tsc --noEmit`) only if
// the client preset of @graphql-codegen generated what Strapi's clients expect.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { graphql } from './gql';

export const Login = graphql(`
  mutation Login($input: UsersPermissionsLoginInput!) {
    login(input: $input) { jwt user { id documentId username email role { name type } } }
  }
`);

export const Register = graphql(`
  mutation Register($input: UsersPermissionsRegisterInput!) {
    register(input: $input) { jwt user { id username email confirmed } }
  }
`);

export const Me = graphql(`
  query Me { me { id documentId username email blocked role { id name type } } }
`);

export const Roles = graphql(`
  query Roles($filters: UsersPermissionsRoleFiltersInput, $status: PublicationStatus) {
    usersPermissionsRoles(filters: $filters, sort: ["name:asc"], status: $status) {
      documentId
      name
      type
      publishedAt
      users(pagination: { pageSize: 5 }) { documentId username email }
      users_connection { nodes { documentId } }
      permissions(filters: { action: { startsWith: "plugin::" } }) { documentId action createdAt }
      permissions_connection { nodes { action } }
    }
  }
`);

export const Users = graphql(`
  query Users($filters: UsersPermissionsUserFiltersInput, $pagination: PaginationArg) {
    usersPermissionsUsers_connection(filters: $filters, pagination: $pagination, sort: ["username:asc"]) {
      nodes { documentId username email confirmed blocked createdAt role { name } }
      pageInfo { total page pageSize pageCount }
    }
  }
`);

type Data<D> = D extends TypedDocumentNode<infer R, any> ? R : never;
type Vars<D> = D extends TypedDocumentNode<any, infer V> ? V : never;

// Variables are checked against the schema's inputs.
export const loginVariables: Vars<typeof Login> = {
  input: { identifier: 'ada@example.com', password: 'a-password-1', provider: 'local' },
};
export const registerVariables: Vars<typeof Register> = {
  input: { username: 'ada', email: 'ada@example.com', password: 'a-password-1' },
};
export const roleVariables: Vars<typeof Roles> = {
  filters: { users: { username: { eq: 'ada' } }, permissions: { action: { eq: 'plugin::users-permissions.user.me' } } },
  status: 'PUBLISHED' as Vars<typeof Roles>['status'],
};
export const userVariables: Vars<typeof Users> = {
  filters: { role: { type: { eq: 'authenticated' } }, publishedAt: { notNull: true } },
  pagination: { page: 1, pageSize: 10 },
};

// Results are read with the schema's types.
export function jwtOf(data: Data<typeof Login>): string | null | undefined {
  return data.login.jwt;
}
export function registeredName(data: Data<typeof Register>): string {
  return data.register.user.username;
}
export function myRole(data: Data<typeof Me>): string | null | undefined {
  return data.me?.role?.type;
}
export function roleSummaries(data: Data<typeof Roles>): string[] {
  return data.usersPermissionsRoles.map((role) => {
    const users = (role?.users ?? []).map((u) => u?.username ?? '').join(',');
    const actions = (role?.permissions ?? []).map((p) => p?.action ?? '').join(',');
    return `${role?.name}: ${users} / ${actions} / ${role?.users_connection?.nodes.length ?? 0}`;
  });
}
export function userTotal(data: Data<typeof Users>): number {
  return data.usersPermissionsUsers_connection?.pageInfo.total ?? 0;
}
