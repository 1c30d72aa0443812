// Which stored order an id in a URL names: a generated id carries its shard, a client's id its user's.
import type { Keyspace } from '../../shared/keys.js';
import { hasGeneratedIdForm } from '../../shared/order-id.js';
import type { OrderStore } from '../../shared/order-store.js';
import { shardOf } from '../../shared/sharding.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { ClientOrderIdSchema } from '../schemas.js';

export interface OrderLocatorDeps {
  keyspace: Keyspace;
  orders: Pick<OrderStore, 'orderIdOfClient'>;
}

/**
 * The one resolution of `/orders/:order_id[?user_id=U]` to the stored order's id, for every route
 * under it (the lookup; cancel and events when they come). A generated id (`<shard>-<ULID>`) names
 * its order alone, `user_id` unused; a client order id names one only with its `user_id`, whose
 * shard holds the id's binding (ADR 0017).
 */
export function createOrderLocator({ keyspace, orders }: OrderLocatorDeps) {
  return {
    /** The generated id of the order; throws 400 for an id of neither form, 404 for an unknown one. */
    async locateOrder(orderId: string, userId: string | undefined): Promise<string> {
      if (hasGeneratedIdForm(orderId)) {
        if (keyspace.ofOrder(orderId) === null) throw malformed(orderId, 'its shard does not exist');
        return orderId;
      }
      if (!ClientOrderIdSchema.safeParse(orderId).success) throw malformed(orderId);
      if (userId === undefined) {
        throw new BadRequestError(
          `order id ${JSON.stringify(orderId)} is not a generated id (<shard>-<ULID>): a client order id needs ?user_id=`,
        );
      }
      const found = await orders.orderIdOfClient(shardOf(userId, keyspace.shards), userId, orderId);
      if (found === null) throw new NotFoundError(`no order ${orderId} of user ${userId}`);
      return found;
    },
  };
}

const malformed = (orderId: string, why = 'expected <shard>-<ULID>, or a client order id with ?user_id=') =>
  new BadRequestError(`malformed order id ${JSON.stringify(orderId)}: ${why}`);

export type OrderLocator = ReturnType<typeof createOrderLocator>;
