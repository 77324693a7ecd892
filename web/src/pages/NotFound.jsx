import { Empty } from '../components/ui.jsx';

export function NotFound() {
  return (
    <div class="page">
      <Empty icon="?" title="Page not found">
        <p>
          There is nothing at this address. <a href="#/">Go to the dashboard</a>.
        </p>
      </Empty>
    </div>
  );
}
